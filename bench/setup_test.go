package bench

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"stationsync/agent"
	"stationsync/internal/gen"
	"stationsync/internal/pgdb/pgtest"
	"stationsync/internal/records"
	"stationsync/server"
)

// The place every benchmark plays in: one county, one village.
const (
	countyCode = "340123"
	seed       = 20180303 // any fixed value: the records are the same on every run
)

var village = gen.Villages(countyCode, 1)[0]

// Visit dates are drawn from the last three years, as a register that has
// been kept for a while would hold.
var (
	visitsFrom = time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	visitsTo   = time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
)

var quiet = slog.New(slog.DiscardHandler)

// wireCounter counts the bytes that cross the county's TCP connections:
// HTTP request and response heads, bodies and chunk framing, everything
// but the TCP/IP headers.
type wireCounter struct{ up, down atomic.Int64 }

func (w *wireCounter) reset() { w.up.Store(0); w.down.Store(0) }

func (w *wireCounter) total() int64 { return w.up.Load() + w.down.Load() }

type countingListener struct {
	net.Listener
	w *wireCounter
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, w: l.w}, nil
}

type countingConn struct {
	net.Conn
	w *wireCounter
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.w.up.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.w.down.Add(int64(n))
	return n, err
}

// county is a county server on 127.0.0.1 with its SQLite store in dir,
// or its PostgreSQL store (newCountyOn).
type county struct {
	store *server.CountyStore
	http  *httptest.Server
	wire  *wireCounter
	pgURL string // the PostgreSQL store's database; "" on SQLite
}

// The county's stores a benchmark runs on.
type storeKind string

const (
	onSQLite   storeKind = "sqlite"
	onPostgres storeKind = "postgres"
)

func newCounty(tb testing.TB, dir string) *county { return newCountyOn(tb, dir, onSQLite) }

// newCountyOn is a county on the given store: SQLite in dir, or a fresh
// database on the test PostgreSQL server (internal/pgdb/pgtest; dropped
// when the benchmark ends) with dir as its data directory.
func newCountyOn(tb testing.TB, dir string, kind storeKind) *county {
	tb.Helper()
	ctx := context.Background()
	var (
		st    *server.CountyStore
		err   error
		pgURL string
	)
	switch kind {
	case onSQLite:
		st, err = server.OpenSQLite(ctx, filepath.Join(dir, "county.db"), countyCode)
	case onPostgres:
		pgURL = pgtest.NewDatabase(tb)
		st, err = server.OpenPostgres(ctx, pgURL, dir, countyCode)
	default:
		tb.Fatalf("store %q", kind)
	}
	if err != nil {
		tb.Fatal(err)
	}
	c := &county{store: st, wire: &wireCounter{}, pgURL: pgURL}
	c.http = httptest.NewUnstartedServer(server.New(st, quiet).NewHandler())
	c.http.Listener = &countingListener{Listener: c.http.Listener, w: c.wire}
	c.http.Start()
	tb.Cleanup(c.close)
	return c
}

func (c *county) close() {
	c.http.Close()
	c.store.Close()
}

func (c *county) code(tb testing.TB) string {
	tb.Helper()
	code, err := c.store.CreateCode(context.Background(), village, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return code
}

// count returns how many records of a kind the county holds.
func (c *county) count(tb testing.TB, kind records.Kind) int {
	tb.Helper()
	var n int
	if err := c.store.DB().R.QueryRow(`SELECT count(*) FROM ` + records.SchemaOf(kind).Table).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// newStation opens a station in dir and, when serverURL is set, enrols it
// with a fresh code of c.
func newStation(tb testing.TB, dir string, c *county, serverURL string) *agent.Agent {
	tb.Helper()
	ctx := context.Background()
	a, err := agent.Open(ctx, agent.Config{DataDir: dir, Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { a.Close() })
	if serverURL != "" {
		if _, err := a.Enroll(ctx, serverURL, c.code(tb)); err != nil {
			tb.Fatal(err)
		}
	}
	return a
}

// fields turns a generated record into the JSON fields a form submits.
func fields(tb testing.TB, rec map[string]any) records.Fields {
	tb.Helper()
	out := make(records.Fields, len(rec))
	for k, v := range rec {
		raw, err := json.Marshal(v)
		if err != nil {
			tb.Fatal(err)
		}
		out[k] = raw
	}
	return out
}

// cadres are the village cadres who record at the station.
func cadres(g *gen.Generator) []string {
	return []string{g.Name(), g.Name(), g.Name()}
}

// savePersons records n people at the station, each in its own fsynced
// transaction as a cadre would, and returns their ids.
func savePersons(tb testing.TB, a *agent.Agent, g *gen.Generator, by []string, n int) []string {
	tb.Helper()
	ctx := context.Background()
	ids := make([]string, n)
	for i := range ids {
		id, err := a.Store.Save(ctx, records.Person, "", fields(tb, g.Person(village)), by[i%len(by)])
		if err != nil {
			tb.Fatal(err)
		}
		ids[i] = id
	}
	return ids
}

// saveVisits records n visits to the given people at the station.
func saveVisits(tb testing.TB, a *agent.Agent, g *gen.Generator, by, persons []string, n int) {
	tb.Helper()
	ctx := context.Background()
	for i := range n {
		v := g.Visit(persons[i%len(persons)], g.Date(visitsFrom, visitsTo))
		if _, err := a.Store.Save(ctx, records.Visit, "", fields(tb, v), by[i%len(by)]); err != nil {
			tb.Fatal(err)
		}
	}
}

// visitsNDJSON returns the station's visits as newline-delimited JSON, one
// object per record: id, village, created_by, created_at and the fields,
// as stored at the station. It is what a plain export of the backlog would
// be, and its zstd -19 size is the yardstick of the wire format.
func visitsNDJSON(tb testing.TB, a *agent.Agent) ([]byte, int) {
	tb.Helper()
	list, err := a.Store.List(context.Background(), records.Visit)
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	for _, l := range list {
		obj := make(map[string]json.RawMessage, len(l.Fields)+4)
		for k, v := range l.Fields {
			obj[k] = v
		}
		obj["id"], _ = json.Marshal(l.ID)
		obj["village"], _ = json.Marshal(l.Village)
		obj["created_by"], _ = json.Marshal(l.CreatedBy)
		obj["created_at"], _ = json.Marshal(l.CreatedAt)
		line, err := json.Marshal(obj)
		if err != nil {
			tb.Fatal(err)
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	return buf.Bytes(), len(list)
}

// zstdCLI is the reference compressor.
const zstdCLI = "/usr/bin/zstd"

// zstd19 returns the size of src compressed by `zstd -19`, and the name of
// what compressed it: the command line tool if installed, else klauspost's
// best level (which compresses a little less well).
func zstd19(tb testing.TB, src []byte) (int, string) {
	tb.Helper()
	if _, err := os.Stat(zstdCLI); err == nil {
		cmd := exec.Command(zstdCLI, "-19", "-q", "-c")
		cmd.Stdin = bytes.NewReader(src)
		out, err := cmd.Output()
		if err != nil {
			tb.Fatalf("%s -19: %v", zstdCLI, err)
		}
		return len(out), "zstd19"
	}
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	if err != nil {
		tb.Fatal(err)
	}
	defer e.Close()
	return len(e.EncodeAll(src, nil)), "kpzstdBest"
}

// newKey makes a station key pair.
func newKey(tb testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	tb.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return pub, priv
}

// durations summarises measured times.
type durations []time.Duration

// quantile returns the q-quantile (nearest rank) of sorted d.
func (d durations) quantile(q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(d)))) - 1
	return d[min(max(i, 0), len(d)-1)]
}

// median returns the median of d, which need not be sorted.
func (d durations) median() time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	switch n := len(s); {
	case n == 0:
		return 0
	case n%2 == 1:
		return s[n/2]
	default:
		return (s[n/2-1] + s[n/2]) / 2
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func must(tb testing.TB, err error, what string, args ...any) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("%s: %v", fmt.Sprintf(what, args...), err)
	}
}
