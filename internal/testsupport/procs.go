package testsupport

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stationsync/internal/jsonout"
	"stationsync/internal/records"
	"stationsync/internal/testproc"
	"stationsync/server"
)

// CountyProc is a county-server process on a fixed data directory and
// address, which a test can kill and start again. It is killed when the
// test ends.
type CountyProc struct {
	t    testing.TB
	bin  string
	env  []string
	Data string // the data directory
	Addr string // host:port, fixed once the server first answered
	Log  string // its output, appended over restarts
	P    *testproc.Proc

	started bool
}

// NewCountyProc prepares a county-server (bin) with the environment env
// (e.g. LOG_LEVEL=debug) in a fresh directory; Start starts it.
func NewCountyProc(t testing.TB, bin string, env ...string) *CountyProc {
	t.Helper()
	dir := t.TempDir()
	c := &CountyProc{t: t, bin: bin, env: env, Data: filepath.Join(dir, "county"), Addr: FreeAddr(t), Log: filepath.Join(dir, "county-server.log")}
	KeepLog(t, c.Log)
	return c
}

// URL is the county's address for stations.
func (c *CountyProc) URL() string { return "http://" + c.Addr }

// DBPath is the county's database file.
func (c *CountyProc) DBPath() string { return filepath.Join(c.Data, "county.db") }

// Start starts the server, with env added for this run (a failpoint, say),
// and waits until it answers /healthz.
func (c *CountyProc) Start(env ...string) {
	c.t.Helper()
	if c.P != nil && !c.P.Exited() {
		c.t.Fatal("county server already running")
	}
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		c.P = testproc.Start(c.t, c.Log, append(append([]string(nil), c.env...), env...), c.bin, "serve", "--data", c.Data, "--listen", c.Addr)
		if err = c.P.WaitHealthy(c.URL(), 15*time.Second); err == nil {
			c.started = true
			return
		}
		// The port may still be held by the process just killed or, on
		// the first start, taken by someone else since FreeAddr: retry,
		// on the same address once stations know it.
		c.P.Kill()
		if !c.started {
			c.Addr = FreeAddr(c.t)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("county server did not come up: %v\n%s", err, Tail(c.Log, 30))
}

// Kill ends the server with SIGKILL (a power cut).
func (c *CountyProc) Kill() {
	if c.P != nil {
		c.P.Kill()
	}
}

// Stop ends the server as a service manager would (SIGTERM).
func (c *CountyProc) Stop() {
	if c.P != nil {
		c.P.Stop()
	}
}

// CLI runs a county-server command on the data directory and returns
// what it printed; the test fails unless it exits 0.
func (c *CountyProc) CLI(args ...string) string {
	c.t.Helper()
	return MustExec(c.t, []string{"LOG_LEVEL=info"}, nil, c.bin, append(args, "--data", c.Data)...)
}

// Code makes an enrolment code for a village, as staff do
// (`county-server station add`).
func (c *CountyProc) Code(village string) string {
	c.t.Helper()
	return strings.TrimSpace(c.CLI("station", "add", "--village", village))
}

// Codes makes enrolment codes for many villages at once in the county's
// database (which the server may have open): a thousand command runs
// would take minutes.
func (c *CountyProc) Codes(villages []string) []string {
	c.t.Helper()
	if err := os.MkdirAll(c.Data, 0o700); err != nil {
		c.t.Fatal(err)
	}
	st := c.Open()
	defer st.Close()
	out := make([]string, len(villages))
	for i, v := range villages {
		var err error
		if out[i], err = st.CreateCode(context.Background(), v, 24*time.Hour); err != nil {
			c.t.Fatal(err)
		}
	}
	return out
}

// Open opens the county's database in this process, for checks.
func (c *CountyProc) Open() *server.CountyStore {
	c.t.Helper()
	st, err := server.OpenSQLite(context.Background(), c.DBPath(), "")
	if err != nil {
		c.t.Fatal(err)
	}
	return st
}

// Records returns the merged records of a kind (and village, if not ""),
// as `county-server records` prints them.
func (c *CountyProc) Records(kind records.Kind, village string) []Record {
	c.t.Helper()
	args := []string{"records", "--kind", string(kind)}
	if village != "" {
		args = append(args, "--village", village)
	}
	var out []jsonout.Record
	DecodeJSON(c.t, c.CLI(args...), &out)
	return FromJSON(out)
}

// CheckClean fails the test if the county refused a change or kept a
// conflict.
func (c *CountyProc) CheckClean() {
	c.t.Helper()
	var rej, conf []json.RawMessage
	DecodeJSON(c.t, c.CLI("rejected"), &rej)
	DecodeJSON(c.t, c.CLI("conflicts"), &conf)
	if len(rej) != 0 {
		c.t.Errorf("county rejected %d changes: %s", len(rej), rej[0])
	}
	if len(conf) != 0 {
		c.t.Errorf("county kept %d conflicts: %s", len(conf), conf[0])
	}
}

// CheckLog fails the test on any error or panic the server logged (a 500
// answered to a station is a bug even if a retry hid it).
func (c *CountyProc) CheckLog() {
	c.t.Helper()
	b, err := os.ReadFile(c.Log)
	if err != nil {
		c.t.Errorf("read county server log: %v", err)
		return
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "level=ERROR") || strings.Contains(line, "panic") {
			if n++; n <= 5 {
				c.t.Errorf("county server logged: %s", line)
			}
		}
	}
}

// StationProc is a station's data directory driven through the
// station-agent command line.
type StationProc struct {
	t       testing.TB
	bin     string
	Data    string
	Village string
	ID      string // known once enrolled
	Log     string // for the processes a test starts on Data
}

// NewStationProc prepares a station of village (bin: station-agent) in a
// fresh directory.
func NewStationProc(t testing.TB, bin, village string) *StationProc {
	t.Helper()
	dir := t.TempDir()
	s := &StationProc{t: t, bin: bin, Data: filepath.Join(dir, "station"), Village: village, Log: filepath.Join(dir, "station-agent.log")}
	KeepLog(t, s.Log)
	return s
}

// DBPath is the station's database file.
func (s *StationProc) DBPath() string { return filepath.Join(s.Data, "station.db") }

// CLI runs a station-agent command on the data directory with stdin and
// returns what it printed; the test fails unless it exits 0.
func (s *StationProc) CLI(stdin []byte, args ...string) string {
	s.t.Helper()
	return MustExec(s.t, []string{"LOG_LEVEL=info"}, stdin, s.bin, append(args, "--data", s.Data)...)
}

// Enroll enrols the station at the county.
func (s *StationProc) Enroll(serverURL, code string) {
	s.t.Helper()
	// --yes: records made before enrolment go up without the pages'
	// confirmation, as an installer who checked the county would say.
	s.CLI(nil, "enroll", "--server", serverURL, "--code", code, "--yes")
	s.ID = s.Status().StationID
	if s.ID == "" {
		s.t.Fatal("enrolled station has no id")
	}
}

// Status is `station-agent status --json`.
func (s *StationProc) Status() jsonout.StationStatus {
	s.t.Helper()
	var st jsonout.StationStatus
	DecodeJSON(s.t, s.CLI(nil, "status", "--json"), &st)
	return st
}

// Add saves a record with `station-agent add` (a new one when id is "")
// and returns its id.
func (s *StationProc) Add(kind records.Kind, id, by string, fields records.Fields) string {
	s.t.Helper()
	body, err := json.Marshal(fields)
	if err != nil {
		s.t.Fatal(err)
	}
	args := []string{"add", "--kind", string(kind), "--by", by}
	if id != "" {
		args = append(args, "--id", id)
	}
	got := strings.TrimSpace(s.CLI(body, args...))
	if got == "" || id != "" && got != id {
		s.t.Fatalf("add %s: unexpected id %q", kind, got)
	}
	return got
}

// SyncUntilDone runs `station-agent sync` until it exits 0, at most
// attempts times.
func (s *StationProc) SyncUntilDone(attempts int) {
	s.t.Helper()
	var last Result
	for i := 0; i < attempts; i++ {
		if last = Exec(3*time.Minute, []string{"LOG_LEVEL=info"}, nil, s.bin, "sync", "--data", s.Data); last.Err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("station-agent sync did not complete in %d attempts: %v\nstdout: %s\nstderr: %s", attempts, last.Err, last.Stdout, last.Stderr)
}

// List is `station-agent list`: the records in the shape `county-server
// records` prints them.
func (s *StationProc) List(kind records.Kind) []Record {
	s.t.Helper()
	var out []jsonout.Record
	DecodeJSON(s.t, s.CLI(nil, "list", "--kind", string(kind)), &out)
	return FromJSON(out)
}

// CheckDone fails the test unless the station's outbox is empty and it
// holds no rejection, conflict or error.
func (s *StationProc) CheckDone() {
	s.t.Helper()
	st := s.Status()
	if st.Pending != 0 || st.Rejected != 0 || st.Conflicts != 0 || st.LastError != "" {
		s.t.Errorf("station %s: pending=%d rejected=%d conflicts=%d last_error=%q, want all zero", s.ID, st.Pending, st.Rejected, st.Conflicts, st.LastError)
	}
}

// DecodeJSON decodes what a command printed, failing the test on error.
func DecodeJSON(t testing.TB, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decode JSON: %v\n%.2000s", err, s)
	}
}
