package multiserver

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"stationsync/internal/gen"
	"stationsync/internal/hlc"
	"stationsync/internal/pgdb/pgtest"
	"stationsync/internal/records"
	"stationsync/internal/testlog"
	"stationsync/internal/testsupport"
	"stationsync/server"
	"stationsync/syncproto"
)

const county = testsupport.CountyCode

// countyServer is one county server process's worth of state in this
// process: its own store (own pool, own in-memory feed counter and HLC)
// and its own HTTP handler (own slots and gates), on the shared database.
type countyServer struct {
	Name  string
	Store *server.CountyStore
	HTTP  *httptest.Server
	errs  *testlog.Errors
}

func (c *countyServer) URL() string { return c.HTTP.URL }

// pair is two county servers on one PostgreSQL database and one data
// directory, as two processes behind a load balancer would run.
type pair struct {
	PG   string // the database's URL
	Dir  string // the shared data directory
	A, B *countyServer
	// db reads the database directly, for the oracles: what the servers
	// answered is checked against what the database holds.
	db *sql.DB
}

func newPair(t *testing.T) *pair {
	t.Helper()
	p := &pair{PG: pgtest.NewDatabase(t), Dir: t.TempDir()}
	p.A = p.open(t, "A")
	p.B = p.open(t, "B")
	db, err := sql.Open("pgx", p.PG)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p.db = db
	return p
}

func (p *pair) open(t *testing.T, name string) *countyServer {
	t.Helper()
	st, err := server.OpenPostgres(context.Background(), p.PG, p.Dir, county)
	if err != nil {
		t.Fatalf("server %s: %v", name, err)
	}
	errs := &testlog.Errors{}
	srv := server.New(st, slog.New(errs))
	h := srv.NewHandler()
	hs := httptest.NewServer(h)
	c := &countyServer{Name: name, Store: st, HTTP: hs, errs: errs}
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
		st.Close()
		// A 500 answered to a station is a bug even when its retry hid it.
		for _, e := range errs.Take() {
			t.Errorf("server %s logged: %s", name, e)
		}
	})
	return c
}

// servers are the pair in a slice, to pick from.
func (p *pair) servers() []*countyServer { return []*countyServer{p.A, p.B} }

// station is a station speaking the protocol itself, with its own key:
// the test decides what each batch holds and where it goes.
type station struct {
	ID, Village string
	Key         ed25519.PrivateKey
	Epoch       string

	mu      sync.Mutex
	clients map[string]*syncproto.Client
}

// enroll makes a code on server A's store and enrols a new station for
// village through server `via`.
func (p *pair) enroll(t *testing.T, via *countyServer, village string) *station {
	t.Helper()
	ctx := context.Background()
	code, err := p.A.Store.CreateCode(ctx, village, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &station{Village: village, Key: key, Epoch: "e-" + uuid.NewString()[:8], clients: map[string]*syncproto.Client{}}
	res, err := s.client(via.URL()).Enroll(ctx, syncproto.EnrollRequest{Code: code, PublicKey: pub, Hostname: "multiserver", AgentVersion: "multiserver"})
	if err != nil {
		t.Fatalf("enroll through %s: %v", via.Name, err)
	}
	s.ID = res.StationID
	s.mu.Lock()
	for _, c := range s.clients {
		c.Station, c.Key = s.ID, key
	}
	s.mu.Unlock()
	return s
}

// client is the station's client for the server at url.
func (s *station) client(url string) *syncproto.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.clients[url]
	if c == nil {
		c = syncproto.NewClient(url)
		c.Logger = testsupport.Quiet
		// Every answer reaches the test: a 500 retried inside the client
		// would hide a failed write, and retries with backoff would turn a
		// failure into a hang.
		c.RetryMax = 0
		c.Station, c.Key = s.ID, s.Key
		s.clients[url] = c
	}
	return c
}

// push seals changes as one batch and pushes it to the server at url.
func (s *station) push(ctx context.Context, url string, changes []syncproto.Change, pending int) (*syncproto.PushResult, error) {
	cl := s.client(url)
	b := &syncproto.Batch{Version: cl.Speaks(), Station: s.ID, Epoch: s.Epoch, Village: s.Village,
		SentHLC: uint64(hlc.FromTime(time.Now())), Pending: pending, AgentVersion: "multiserver", Changes: changes}
	env, err := syncproto.SealBatch(b, s.Key, syncproto.Fast)
	if err != nil {
		return nil, err
	}
	// A write stuck behind a lock fails the test instead of hanging it.
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return cl.Push(ctx, env)
}

// pull asks the server at url for the feed after cursor.
func (s *station) pull(ctx context.Context, url string, after int64, feed string, limit int) (*syncproto.PullPage, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return s.client(url).Pull(ctx, after, feed, limit, 0, "multiserver")
}

// workload is a station's changes in seq order: persons, visits to them,
// and edits of the persons (which move a record forward in the feed and
// bump its revision), with HLCs increasing an hour ago onwards. want is
// the final value of every field sent, by record; creates counts the
// changes that made a record.
type workload struct {
	Changes []syncproto.Change
	want    map[string]records.Fields
	kinds   map[string]records.Kind
	creates int
}

func makeWorkload(seed uint64, village string, n int) *workload {
	rng := rand.New(rand.NewPCG(seed, 7))
	g := gen.New(int64(seed))
	w := &workload{want: map[string]records.Fields{}, kinds: map[string]records.Kind{}}
	start := time.Now().Add(-time.Hour)
	var persons []string
	rev := map[string]int64{}
	for seq := 1; seq <= n; seq++ {
		at := start.Add(time.Duration(seq) * time.Second)
		c := syncproto.Change{Seq: uint64(seq), HLC: uint64(hlc.FromTime(at)), Op: string(records.OpUpsert), By: "村干部", At: at.UnixMilli()}
		var f records.Fields
		switch r := rng.IntN(10); {
		case len(persons) == 0 || r < 3:
			c.Kind, c.ID = string(records.Person), uuid.Must(uuid.NewV7()).String()
			f = testsupport.Fields(g.Person(village))
			persons = append(persons, c.ID)
		case r < 7:
			c.Kind, c.ID = string(records.Visit), uuid.Must(uuid.NewV7()).String()
			f = testsupport.Fields(g.Visit(persons[rng.IntN(len(persons))], at))
		default:
			c.Kind, c.ID = string(records.Person), persons[rng.IntN(len(persons))]
			f = testsupport.EditFields(rng)
		}
		c.Fields = f
		c.Rev = rev[c.ID]
		rev[c.ID]++
		if w.want[c.ID] == nil {
			w.want[c.ID] = records.Fields{}
			w.kinds[c.ID] = records.Kind(c.Kind)
			w.creates++
		}
		for k, v := range f {
			w.want[c.ID][k] = v
		}
		w.Changes = append(w.Changes, c)
	}
	return w
}

// slice returns the changes with seqs first..last.
func (w *workload) slice(first, last int) []syncproto.Change {
	return w.Changes[first-1 : last]
}

// checkStored fails the test unless the county holds the station's
// changes exactly once: hwm and change ids, one record per create, one
// revision per change, every field sent at its last value, nothing
// refused and no conflict.
func (p *pair) checkStored(t *testing.T, s *station, w *workload) {
	t.Helper()
	ctx := context.Background()
	n := len(w.Changes)
	var epochs int
	var hwm int64
	if err := p.db.QueryRowContext(ctx, `SELECT count(*), coalesce(max(hwm), 0) FROM station_epochs WHERE station = $1`, s.ID).Scan(&epochs, &hwm); err != nil {
		t.Fatal(err)
	}
	if epochs != 1 || hwm != int64(n) {
		t.Errorf("station %s: %d epochs, hwm %d; want 1 epoch, hwm %d", s.ID, epochs, hwm, n)
	}
	var ids, distinct, lo, hi int64
	if err := p.db.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT c.seq), coalesce(min(c.seq), 0), coalesce(max(c.seq), 0)
		FROM change_ids c JOIN station_epochs e ON e.id = c.epoch_id WHERE e.station = $1`, s.ID).Scan(&ids, &distinct, &lo, &hi); err != nil {
		t.Fatal(err)
	}
	if ids != int64(n) || distinct != int64(n) || lo != 1 || hi != int64(n) {
		t.Errorf("station %s: %d change ids, %d distinct seqs, seqs %d..%d; want %d, %d, 1..%d", s.ID, ids, distinct, lo, hi, n, n, n)
	}
	var recs, revs int64
	if err := p.db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(rev), 0) FROM (
		SELECT rev FROM persons WHERE created_origin = $1 UNION ALL SELECT rev FROM visits WHERE created_origin = $1) r`, s.ID).Scan(&recs, &revs); err != nil {
		t.Fatal(err)
	}
	if recs != int64(w.creates) || revs != int64(n) {
		t.Errorf("station %s: %d records with %d revisions in all; want %d records, %d revisions (one per change)", s.ID, recs, revs, w.creates, n)
	}
	var refused, conflicts int
	if err := p.db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM rejected_changes WHERE station = $1), (SELECT count(*) FROM conflicts WHERE loser_origin = $1 OR winner_origin = $1)`, s.ID).Scan(&refused, &conflicts); err != nil {
		t.Fatal(err)
	}
	if refused != 0 || conflicts != 0 {
		t.Errorf("station %s: %d changes refused, %d conflicts; want none", s.ID, refused, conflicts)
	}
	got := map[string]syncproto.Record{}
	for _, k := range []records.Kind{records.Person, records.Visit} {
		rs, err := p.B.Store.Records(ctx, k, s.Village)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			got[r.ID] = r
		}
	}
	bad := 0
	for id, want := range w.want {
		r, ok := got[id]
		if !ok {
			if bad++; bad <= 5 {
				t.Errorf("station %s: %s %s missing at the county", s.ID, w.kinds[id], id)
			}
			continue
		}
		for k, v := range want {
			if !records.Equal(r.Fields[k], v) {
				if bad++; bad <= 5 {
					t.Errorf("station %s: %s %s field %s = %s, want %s", s.ID, w.kinds[id], id, k, r.Fields[k], v)
				}
			}
		}
	}
}

// checkFeedPositions fails the test if two records share a feed position
// or one sits beyond the stored feed counter: either means two writers
// took positions from counters that did not know of each other.
func (p *pair) checkFeedPositions(t *testing.T) {
	t.Helper()
	var n, distinct, top, counter int64
	err := p.db.QueryRow(`SELECT count(*), count(DISTINCT feed_seq), coalesce(max(feed_seq), 0),
		(SELECT CAST(value AS BIGINT) FROM meta WHERE key = 'feed_seq')
		FROM (SELECT feed_seq FROM persons UNION ALL SELECT feed_seq FROM visits
		      UNION ALL SELECT feed_seq FROM applications UNION ALL SELECT feed_seq FROM disclosures) f`).Scan(&n, &distinct, &top, &counter)
	if err != nil {
		t.Fatal(err)
	}
	if n != distinct || top > counter {
		t.Errorf("feed: %d records at %d distinct positions, highest %d, counter %d; want one record a position, none beyond the counter", n, distinct, top, counter)
	}
	t.Logf("feed: %d records, highest position %d", n, top)
}

// busy reports whether err is the county saying "not now" (no slot,
// too many of the station's requests): the batch is sent again later.
// Anything else, a 500 above all, is a failure.
func busy(err error) bool {
	var pe *syncproto.Error
	return errors.As(err, &pe) && (pe.Status == http.StatusServiceUnavailable || pe.Status == http.StatusTooManyRequests)
}

// each runs fn(0..n-1) at once and waits.
func each(n int, fn func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { fn(i) })
	}
	wg.Wait()
}

func villages(n int) []string { return gen.Villages(county, n) }
