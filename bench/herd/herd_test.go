package herd

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"stationsync/internal/gen"
	"stationsync/internal/hlc"
	"stationsync/internal/pgdb/pgtest"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
	"stationsync/server"
	"stationsync/syncproto"
)

// The sizes, from the environment:
//
//	HERD=1                 full size: 3,000 stations × 100 changes, 5 min bound
//	HERD_STATIONS=300,1000 station counts, one herd each (default 200, or 3,000 with HERD)
//	HERD_CHANGES=100       each station's backlog (default 20, or 100 with HERD)
//	HERD_BATCH=1000        changes a push carries (the agent's default batch)
//	HERD_TIMEOUT=5m        bound of one herd from the moment it returns
//	HERD_PROFILE=FILE      CPU profile of the county for the first HERD_PROFILE_SECONDS (30) of each herd
//	HERD_RESULTS=FILE      the table is appended there too
//	HERD_COUNTY_BIN=FILE   a county-server built elsewhere instead of this tree's
//	HERD_QUEUE_WAIT=1s     the county's --queue-wait (default its own, 2 s)
//	HERD_STORES=sqlite,postgres  the county's stores, each herd size on each (default both);
//	                       postgres is a fresh database on pgtest's server (`serve --db`)
//	HERD_SERVERS=2         county-server processes on the PostgreSQL store, one database and one
//	                       data directory, stations spread over them (default 1; SQLite: always 1)
type config struct {
	stations       []int
	stores         []string
	servers        int
	changes, batch int
	limit          time.Duration
	profile        string
	profileSeconds int
	results        string
	queueWait      string
}

func configFromEnv(t *testing.T) config {
	full := os.Getenv("HERD") != ""
	c := config{stations: []int{200}, stores: []string{"sqlite", "postgres"}, servers: 1, changes: 20, batch: 1000, limit: 3 * time.Minute, profileSeconds: 30,
		profile: os.Getenv("HERD_PROFILE"), results: os.Getenv("HERD_RESULTS"), queueWait: os.Getenv("HERD_QUEUE_WAIT")}
	if full {
		c.stations, c.changes, c.limit = []int{3000}, 100, 5*time.Minute
	}
	num := func(name string, dst *int) {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				t.Fatalf("%s=%q: want a positive number", name, v)
			}
			*dst = n
		}
	}
	if v := os.Getenv("HERD_STATIONS"); v != "" {
		c.stations = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				t.Fatalf("HERD_STATIONS=%q: want station counts separated by commas", v)
			}
			c.stations = append(c.stations, n)
		}
	}
	if v := os.Getenv("HERD_STORES"); v != "" {
		c.stores = nil
		for _, f := range strings.Split(v, ",") {
			switch f = strings.TrimSpace(f); f {
			case "sqlite", "postgres":
				c.stores = append(c.stores, f)
			default:
				t.Fatalf("HERD_STORES=%q: want sqlite, postgres or both, separated by commas", v)
			}
		}
	}
	num("HERD_SERVERS", &c.servers)
	num("HERD_CHANGES", &c.changes)
	num("HERD_BATCH", &c.batch)
	num("HERD_PROFILE_SECONDS", &c.profileSeconds)
	if c.queueWait == "" {
		c.queueWait = "2s"
	} else if d, err := time.ParseDuration(c.queueWait); err != nil || d <= 0 {
		t.Fatalf("HERD_QUEUE_WAIT=%q: want a positive duration", c.queueWait)
	}
	if v := os.Getenv("HERD_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("HERD_TIMEOUT=%q: %v", v, err)
		}
		c.limit = d
	}
	return c
}

var countyBin string

func TestMain(m *testing.M) {
	if bin := os.Getenv("HERD_COUNTY_BIN"); bin != "" {
		// A county built elsewhere (another revision, to compare); it must
		// be a test build (-tags stationsync_test) for the profile.
		countyBin = bin
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "stationsync-herd-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The county as stations meet it, plus the test build's profiler hook
	// (cmd/county-server/testhooks_on.go); without -race, as in the field.
	if err := testsupport.GoBuild("-tags", testsupport.TestTags, "-o", dir+string(filepath.Separator), "stationsync/cmd/county-server"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	countyBin = filepath.Join(dir, "county-server")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestHerd runs one herd per station count and store and reports the table. It
// asserts what must hold at any size — every change at the county once,
// no station left behind, the load generator's memory bounded — and never
// a time: the figures are for the table.
func TestHerd(t *testing.T) {
	cfg := configFromEnv(t)
	var rows []row
	for _, n := range cfg.stations {
		for _, store := range cfg.stores {
			t.Run(fmt.Sprintf("stations=%d,store=%s", n, store), func(t *testing.T) {
				r := runHerd(t, cfg, n, store)
				rows = append(rows, r)
				t.Logf("herd: %s", r.line())
			})
		}
	}
	table := formatTable(cfg, rows)
	fmt.Print(table)
	if cfg.results != "" {
		f, err := os.OpenFile(cfg.results, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(table); err != nil {
			t.Fatal(err)
		}
	}
}

// herdStation is one simulated station: its identity and where its
// sealed backlog waits.
type herdStation struct {
	i                 int
	village, code, id string
	key               ed25519.PrivateKey
	spool             string
	batches           int

	applied, duplicate int // as the county's answers said
	pulled             int
	done               time.Duration // from the return to its last page
	err                error
}

const epoch = "e1"

func runHerd(t *testing.T, cfg config, n int, store string) row {
	ctx := context.Background()
	r := row{stations: n, changes: cfg.changes, queueWait: cfg.queueWait, store: store, servers: 1}
	env := []string{"LOG_LEVEL=warn", "STATIONSYNC_QUEUE_WAIT=" + cfg.queueWait}
	var pgURL, pgName string
	if store == "postgres" {
		// Made before the county, so its drop (a cleanup) runs after the
		// county's kill.
		pgURL = pgtest.NewDatabase(t)
		pgName = pgURL[strings.LastIndexByte(pgURL, '/')+1:]
		pgName, _, _ = strings.Cut(pgName, "?")
		env = append(env, "STATIONSYNC_DB="+pgURL) // serve --db's default
		r.servers = cfg.servers
	}
	// The generator's peak RSS is this herd's alone: the process's
	// high-water mark would otherwise carry the previous herd's (and
	// store's) over.
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Logf("reset the generator's peak RSS: %v (it counts from the process's start)", err)
	}
	// The county's servers: on PostgreSQL several may share the database
	// and the data directory, as behind a load balancer; station i talks
	// to server i mod r.servers.
	cs := make([]*testsupport.CountyProc, r.servers)
	metricsAddrs := make([]string, r.servers)
	var pprofAddr string
	for k := range cs {
		metricsAddrs[k] = testsupport.FreeAddr(t)
		e := append(append([]string(nil), env...), "STATIONSYNC_METRICS_ADDR="+metricsAddrs[k])
		if k == 0 { // the profile is of the first server
			pprofAddr = testsupport.FreeAddr(t)
			e = append(e, "STATIONSYNC_TEST_PPROF_ADDR="+pprofAddr)
		}
		cs[k] = testsupport.NewCountyProc(t, countyBin, e...)
		if k > 0 {
			cs[k].Data = cs[0].Data
		}
	}
	c := cs[0]
	villages := gen.Villages("340123", n)
	codes := makeCodes(t, c, pgURL, villages) // as staff make them (`county-server station add`), in one transaction
	for _, ck := range cs {
		ck.Start()
		t.Cleanup(ck.Kill)
	}
	url := func(i int) string { return cs[i%len(cs)].URL() }

	// Enrolment over the protocol, each station its own key, 16 at a
	// time as an installer's script would (the county's enrolment limit
	// per address allows 32 in flight).
	spoolDir := t.TempDir()
	ss := make([]*herdStation, n)
	began := time.Now()
	err := each(n, 16, func(i int) error {
		pub, key, err := ed25519.GenerateKey(nil)
		if err != nil {
			return err
		}
		cl := syncproto.NewClient(url(i))
		cl.Logger = testsupport.Quiet
		defer cl.CloseIdle()
		res, err := cl.Enroll(ctx, syncproto.EnrollRequest{Code: codes[i], PublicKey: pub, Hostname: fmt.Sprintf("herd-%d", i), AgentVersion: "herd"})
		if err != nil {
			return fmt.Errorf("station %d: enroll: %w", i, err)
		}
		ss[i] = &herdStation{i: i, village: villages[i], code: codes[i], id: res.StationID, key: key,
			spool: filepath.Join(spoolDir, strconv.Itoa(i))}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d stations enrolled in %s", n, time.Since(began).Round(time.Millisecond))

	// The outage: every village records its backlog, sealed as its agent
	// would seal it, into its spool. One worker per core; each holds one
	// batch at a time.
	began = time.Now()
	if err := each(n, runtime.GOMAXPROCS(0), func(i int) error { return ss[i].writeBacklog(cfg) }); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d backlogs of %d changes sealed in %s", n, cfg.changes, time.Since(began).Round(time.Millisecond))

	// The county's gauges and the load generator's own heap, sampled.
	rec := newRecorder()
	pgBefore := pgMemory(pgName)
	samp := startSampler(metricsAddrs, pgName)
	var prof sync.WaitGroup
	if cfg.profile != "" {
		prof.Go(func() { r.profile = takeProfile(t, pprofAddr, cfg.profileSeconds, profilePath(cfg.profile, store, n)) })
	}

	// The return: every station at once.
	hctx, cancel := context.WithTimeout(ctx, cfg.limit)
	defer cancel()
	back := time.Now()
	var wg sync.WaitGroup
	for _, s := range ss {
		wg.Go(func() { s.err = s.run(hctx, url(s.i), rec, back) })
	}
	wg.Wait()
	r.converged = time.Since(back)
	samp.stop()
	prof.Wait()
	for _, ck := range cs {
		rss := testsupport.VmHWM(ck.P.Pid())
		r.serverRSS = max(r.serverRSS, rss)
		r.serversRSS += rss
	}
	r.genRSS = testsupport.VmHWM(os.Getpid())
	r.genHeap = samp.peakHeap.Load()
	r.pushQueue, r.slotsBusy = samp.peakQueue.Load(), samp.peakSlots.Load()
	r.pgBefore, r.pgPeak = pgBefore, samp.peakPG.Load()
	r.county = scrapeAll(metricsAddrs)
	r.lat = rec.quantiles()
	r.status = rec.counts()
	var failed []string
	for _, s := range ss {
		if s.err != nil {
			failed = append(failed, fmt.Sprintf("station %d: %v", s.i, s.err))
		}
	}
	for _, ck := range cs {
		ck.Stop()
	}
	if len(failed) > 0 {
		t.Errorf("%d of %d stations did not converge within %s; first: %s", len(failed), n, cfg.limit, failed[0])
	}

	// The count at the county.
	r.lost, r.dup, r.ingested = countAtCounty(t, openCounty(t, c, pgURL), ss, cfg.changes)
	if r.lost != 0 || r.dup != 0 || r.ingested != n*cfg.changes {
		t.Errorf("county holds %d of %d changes: %d lost, %d duplicated", r.ingested, n*cfg.changes, r.lost, r.dup)
	}
	for _, s := range ss {
		if s.err == nil && s.applied+s.duplicate < cfg.changes {
			t.Errorf("station %d: the county's answers acknowledged %d of %d changes", s.i, s.applied+s.duplicate, cfg.changes)
		}
	}
	// Bounded memory: a batch per station in flight and the clients'
	// buffers, not every station's records (2 KiB a change would be
	// n*changes*2 KiB). The bound is generous; a leak of backlogs
	// breaks it at any size.
	bound := int64(256<<20) + int64(n)*(512<<10)
	if raceBuild {
		bound *= 8
	}
	if r.genRSS > bound {
		t.Errorf("load generator peaked at %d MiB, over the bound of %d MiB for %d stations", r.genRSS>>20, bound>>20, n)
	}
	for _, ck := range cs {
		ck.CheckLog()
	}
	return r
}

// writeBacklog generates the station's backlog in seq order — a person,
// then visits to the persons it has, about one person in five changes —
// seals it in batches as the agent does (Best compression, signed by the
// station's key) and writes the envelopes to the spool, each after its
// length.
func (s *herdStation) writeBacklog(cfg config) error {
	f, err := os.Create(s.spool)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	g := gen.New(int64(1_000_003*s.i + 17))
	start := time.Now().Add(-time.Duration(cfg.changes) * time.Minute) // one change a minute during the outage
	var persons []string
	for first := 1; first <= cfg.changes; first += cfg.batch {
		b := &syncproto.Batch{Version: syncproto.Version, Station: s.id, Epoch: epoch, Village: s.village,
			SentHLC: uint64(hlc.FromTime(time.Now())), Pending: cfg.changes - first + 1, AgentVersion: "herd"}
		for seq := first; seq < first+cfg.batch && seq <= cfg.changes; seq++ {
			at := start.Add(time.Duration(seq) * time.Minute)
			ch := syncproto.Change{Seq: uint64(seq), HLC: uint64(hlc.FromTime(at)), Op: string(records.OpUpsert),
				ID: uuid.Must(uuid.NewV7()).String(), By: "村干部", At: at.UnixMilli()}
			if len(persons) == 0 || seq%5 == 1 {
				ch.Kind, ch.Fields = string(records.Person), testsupport.Fields(g.Person(s.village))
				persons = append(persons, ch.ID)
			} else {
				ch.Kind, ch.Fields = string(records.Visit), testsupport.Fields(g.Visit(persons[seq%len(persons)], at))
			}
			b.Changes = append(b.Changes, ch)
		}
		env, err := syncproto.SealBatch(b, s.key, syncproto.Best)
		if err != nil {
			f.Close()
			return err
		}
		binary.Write(w, binary.BigEndian, uint32(len(env)))
		w.Write(env)
		s.batches++
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// run is the station coming back: its backlog up, a batch at a time read
// from the spool, then the feed down to its end. A failed round waits as
// the agent's does (syncproto.RoundWait: the county's Retry-After with
// jitter, else capped full jitter) and starts again where it stopped.
func (s *herdStation) run(ctx context.Context, url string, rec *recorder, back time.Time) error {
	cl := syncproto.NewClient(url)
	cl.Station, cl.Key, cl.Logger = s.id, s.key, testsupport.Quiet
	cl.HTTP.Transport = &timed{rt: cl.HTTP.Transport, rec: rec}
	defer cl.CloseIdle()
	f, err := os.Open(s.spool)
	if err != nil {
		return err
	}
	defer f.Close()
	rd := bufio.NewReader(f)
	failures := 0
	retry := func(err error) error {
		var pe *syncproto.Error
		if errors.As(err, &pe) && !pe.Temporary() {
			return err
		}
		failures++
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(syncproto.RoundWait(failures, time.Minute, err)):
			return nil
		}
	}
	for range s.batches {
		var size uint32
		if err := binary.Read(rd, binary.BigEndian, &size); err != nil {
			return fmt.Errorf("read spool: %w", err)
		}
		env := make([]byte, size)
		if _, err := io.ReadFull(rd, env); err != nil {
			return fmt.Errorf("read spool: %w", err)
		}
		p, _, err := syncproto.ParseEnvelope(env)
		if err != nil {
			return err
		}
		b, err := p.Open(s.key.Public().(ed25519.PublicKey))
		if err != nil {
			return err
		}
		last := b.Changes[len(b.Changes)-1].Seq
		b = nil
		for {
			pr, err := cl.Push(ctx, env)
			if err == nil {
				if pr.Epoch != epoch || pr.HWM != last {
					return fmt.Errorf("push answered epoch %q hwm %d, sent %q up to %d", pr.Epoch, pr.HWM, epoch, last)
				}
				for _, x := range pr.Results {
					switch x.Status {
					case syncproto.Applied:
						s.applied++
					case syncproto.Duplicate:
						s.duplicate++
					default:
						return fmt.Errorf("change %d %s: %s %s", x.Seq, x.Status, x.Code, x.Reason)
					}
				}
				break
			}
			if err := retry(err); err != nil {
				return err
			}
		}
	}
	var after int64
	feed := ""
	for {
		page, err := cl.Pull(ctx, after, feed, 500, 0, "herd")
		if err != nil {
			if err := retry(err); err != nil {
				return err
			}
			continue
		}
		s.pulled += len(page.Records)
		after, feed = page.Next, page.FeedEpoch
		if !page.More {
			break
		}
	}
	s.done = time.Since(back)
	return nil
}

// openCounty opens the county's store in this process, for codes and
// checks: its SQLite file, or its PostgreSQL database when pgURL is set
// (testsupport's CountyProc.Open knows SQLite only).
func openCounty(t *testing.T, c *testsupport.CountyProc, pgURL string) *server.CountyStore {
	t.Helper()
	if err := os.MkdirAll(c.Data, 0o700); err != nil {
		t.Fatal(err)
	}
	st, err := server.Open(context.Background(), pgURL, c.Data, "")
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// makeCodes makes the villages' enrolment codes in the county's store,
// as CountyProc.Codes does on SQLite: a thousand `station add` runs would
// take minutes.
func makeCodes(t *testing.T, c *testsupport.CountyProc, pgURL string, villages []string) []string {
	t.Helper()
	st := openCounty(t, c, pgURL)
	defer st.Close()
	out := make([]string, len(villages))
	for i, v := range villages {
		var err error
		if out[i], err = st.CreateCode(context.Background(), v, 24*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// each calls fn(0) … fn(n-1), at most par at a time, and returns the
// first error.
func each(n, par int, fn func(i int) error) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, par)
	var once sync.Once
	var first error
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				once.Do(func() { first = err })
			}
		})
	}
	wg.Wait()
	return first
}

// countAtCounty counts, in the county's database after it stopped, each
// station's records, its applied change ids and its high-water mark,
// against its backlog: lost is what is missing, dup what is there more
// than once (a second record, or an id or mark beyond the backlog).
func countAtCounty(t *testing.T, st *server.CountyStore, ss []*herdStation, backlog int) (lost, dup, ingested int) {
	defer st.Close()
	db := st.DB().R
	recs := map[string]int{}
	for _, table := range []string{"persons", "visits"} {
		rows, err := db.Query(`SELECT created_origin, count(*) FROM ` + table + ` GROUP BY created_origin`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var o string
			var k int
			if err := rows.Scan(&o, &k); err != nil {
				t.Fatal(err)
			}
			recs[o] += k
		}
		rows.Close()
	}
	ids, hwm := map[string]int{}, map[string]int{}
	rows, err := db.Query(`SELECT e.station, e.hwm, (SELECT count(*) FROM change_ids c WHERE c.epoch_id = e.id) FROM station_epochs e`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		var h, k int
		if err := rows.Scan(&s, &h, &k); err != nil {
			t.Fatal(err)
		}
		ids[s] += k
		hwm[s] = max(hwm[s], h)
	}
	rows.Close()
	var rejected int
	if err := db.QueryRow(`SELECT count(*) FROM rejected_changes`).Scan(&rejected); err != nil {
		t.Fatal(err)
	}
	if rejected != 0 {
		t.Errorf("county refused %d changes", rejected)
	}
	for _, s := range ss {
		got := recs[s.id]
		ingested += got
		lost += max(0, backlog-got)
		dup += max(0, got-backlog, ids[s.id]-backlog, hwm[s.id]-backlog)
		if got != backlog || ids[s.id] != backlog || hwm[s.id] != backlog {
			if lost+dup < 5 {
				t.Logf("station %d (%s): %d records, %d change ids, hwm %d; backlog %d", s.i, s.id, got, ids[s.id], hwm[s.id], backlog)
			}
		}
	}
	return lost, dup, ingested
}
