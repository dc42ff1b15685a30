// Package e2e runs the real station-agent and county-server binaries as
// separate processes, kills them with SIGKILL at random moments and checks,
// against an oracle kept outside the system, that nothing was lost and
// nothing arrived twice.
//
// TestMain builds both binaries once (without -race). Every test logs its
// seed; E2E_SEED=N replays one. E2E_LOGDIR=DIR keeps the processes' logs
// (LOG_LEVEL=debug) after the temporary directories are gone. -short runs
// fewer cycles and keeps every assertion.
package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"stationsync/internal/jsonout"
	"stationsync/internal/records"
	"stationsync/internal/testproc"
)

// bin holds the paths of the binaries TestMain builds.
var bin struct{ agent, server string }

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "stationsync-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	// go test puts $GOROOT/bin first in the PATH of the test binary.
	goTool, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: go tool not found:", err)
		return 1
	}
	// Built once, without -race: the binaries are the system under test,
	// the race detector only matters for the test process itself.
	cmd := exec.Command(goTool, "build", "-o", dir+string(filepath.Separator), "stationsync/cmd/station-agent", "stationsync/cmd/county-server")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: go build:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "e2e: built station-agent and county-server in %s\n", time.Since(start).Round(time.Millisecond))
	bin.agent = filepath.Join(dir, "station-agent")
	bin.server = filepath.Join(dir, "county-server")
	return m.Run()
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pick a port: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// cmdResult is what a finished command printed and returned.
type cmdResult struct {
	stdout, stderr string
	code           int
}

// runCmd runs a binary to completion (at most timeout) with stdin.
func runCmd(t *testing.T, timeout time.Duration, stdin []byte, name string, args ...string) cmdResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LOG_LEVEL=info")
	testproc.DieWithParent(cmd)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	res := cmdResult{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	default:
		t.Fatalf("%s %s: %v", filepath.Base(name), strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %s: timed out after %s\nstderr: %s", filepath.Base(name), strings.Join(args, " "), timeout, res.stderr)
	}
	return res
}

// mustRun runs a binary and fails the test unless it exits 0.
func mustRun(t *testing.T, stdin []byte, name string, args ...string) string {
	t.Helper()
	r := runCmd(t, 2*time.Minute, stdin, name, args...)
	if r.code != 0 {
		t.Fatalf("%s %s: exit %d\nstdout: %s\nstderr: %s", filepath.Base(name), strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// startProc starts a long-running binary, its output appended to logPath.
func startProc(t *testing.T, logPath string, name string, args ...string) *testproc.Proc {
	t.Helper()
	return testproc.Start(t, logPath, []string{"LOG_LEVEL=debug"}, name, args...)
}

// county is a county server on a fixed data directory and address, which
// can be killed and started again.
type county struct {
	t       *testing.T
	data    string
	addr    string
	log     string
	p       *testproc.Proc
	started bool // once started, the address never changes
}

func newCounty(t *testing.T) *county {
	dir := t.TempDir()
	keepLogs(t, dir, "county-server.log")
	return &county{t: t, data: filepath.Join(dir, "county"), addr: freeAddr(t), log: filepath.Join(dir, "county-server.log")}
}

func (c *county) url() string { return "http://" + c.addr }

func (c *county) dbPath() string { return filepath.Join(c.data, "county.db") }

// start starts the server and waits until it answers /healthz.
func (c *county) start() {
	c.t.Helper()
	if c.p != nil && !c.p.Exited() {
		c.t.Fatal("county server already running")
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		c.p = startProc(c.t, c.log, bin.server, "serve", "--data", c.data, "--listen", c.addr)
		if lastErr = c.p.WaitHealthy(c.url(), 15*time.Second); lastErr == nil {
			c.started = true
			return
		}
		// The port may still be held by the process just killed, or, on
		// the first start, taken by someone else since freeAddr: retry.
		c.p.Kill()
		if !c.started {
			c.addr = freeAddr(c.t)
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.t.Fatalf("county server did not come up: %v\n%s", lastErr, tail(c.log, 30))
}

func (c *county) kill() { c.p.Kill() }
func (c *county) stop() {
	if c.p != nil {
		c.p.Stop()
	}
}

// cli runs a county-server command on the data directory.
func (c *county) cli(args ...string) string {
	c.t.Helper()
	return mustRun(c.t, nil, bin.server, append(args, "--data", c.data)...)
}

// code makes an enrolment code for a village.
func (c *county) code(village string) string {
	c.t.Helper()
	return strings.TrimSpace(c.cli("station", "add", "--village", village))
}

// records returns the merged records of a kind (and village, if not "").
func (c *county) records(kind records.Kind, village string) []jsonout.Record {
	c.t.Helper()
	args := []string{"records", "--kind", string(kind)}
	if village != "" {
		args = append(args, "--village", village)
	}
	var out []jsonout.Record
	decodeJSON(c.t, c.cli(args...), &out)
	return out
}

func decodeJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decode JSON: %v\n%.2000s", err, s)
	}
}

// station is a station's data directory and its command line.
type station struct {
	t       *testing.T
	data    string
	village string
	id      string
	log     string
}

func newStation(t *testing.T, village string) *station {
	dir := t.TempDir()
	keepLogs(t, dir, "station-agent.log")
	return &station{t: t, data: filepath.Join(dir, "station"), village: village, log: filepath.Join(dir, "station-agent.log")}
}

func (s *station) dbPath() string { return filepath.Join(s.data, "station.db") }

func (s *station) cli(stdin []byte, args ...string) string {
	s.t.Helper()
	return mustRun(s.t, stdin, bin.agent, append(args, "--data", s.data)...)
}

func (s *station) enroll(serverURL, code string) {
	s.t.Helper()
	// --yes: records made before enrolment go up without the pages'
	// confirmation, as an installer who checked the county would say.
	s.cli(nil, "enroll", "--server", serverURL, "--code", code, "--yes")
	s.id = s.status().StationID
	if s.id == "" {
		s.t.Fatal("enrolled station has no id")
	}
}

// agentStatus is `station-agent status --json`.
type agentStatus struct {
	StationID string `json:"station_id"`
	Village   string `json:"village"`
	Enrolled  bool   `json:"enrolled"`
	Pending   int    `json:"pending"`
	Rejected  int    `json:"rejected"`
	Conflicts int    `json:"conflicts"`
	LastOK    string `json:"last_successful_sync"`
	LastError string `json:"last_error"`
	Epoch     string `json:"epoch"`
}

func (s *station) status() agentStatus {
	s.t.Helper()
	var st agentStatus
	decodeJSON(s.t, s.cli(nil, "status", "--json"), &st)
	return st
}

// add saves a record with `station-agent add` and returns its id.
func (s *station) add(kind records.Kind, id, by string, fields records.Fields) string {
	s.t.Helper()
	body, err := json.Marshal(fields)
	if err != nil {
		s.t.Fatal(err)
	}
	args := []string{"add", "--kind", string(kind), "--by", by}
	if id != "" {
		args = append(args, "--id", id)
	}
	got := strings.TrimSpace(s.cli(body, args...))
	if got == "" || id != "" && got != id {
		s.t.Fatalf("add %s: unexpected id %q", kind, got)
	}
	return got
}

// syncUntilDone runs `station-agent sync` until it exits 0.
func (s *station) syncUntilDone(attempts int) {
	s.t.Helper()
	var last cmdResult
	for i := 0; i < attempts; i++ {
		last = runCmd(s.t, 3*time.Minute, nil, bin.agent, "sync", "--data", s.data)
		if last.code == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("station-agent sync did not complete in %d attempts: exit %d\nstdout: %s\nstderr: %s", attempts, last.code, last.stdout, last.stderr)
}

// list is `station-agent list`: the records in the shape `county-server
// records` prints them.
func (s *station) list(kind records.Kind) []jsonout.Record {
	s.t.Helper()
	var out []jsonout.Record
	decodeJSON(s.t, s.cli(nil, "list", "--kind", string(kind)), &out)
	return out
}

// keepLogs copies a process log to $E2E_LOGDIR when the test ends, if set,
// and prints its tail when the test failed.
func keepLogs(t *testing.T, dir, name string) {
	t.Cleanup(func() {
		path := filepath.Join(dir, name)
		if t.Failed() {
			t.Logf("tail of %s:\n%s", name, tail(path, 40))
		}
		if out := os.Getenv("E2E_LOGDIR"); out != "" {
			if b, err := os.ReadFile(path); err == nil {
				os.MkdirAll(out, 0o755)
				os.WriteFile(filepath.Join(out, strings.ReplaceAll(t.Name(), "/", "_")+"-"+filepath.Base(filepath.Dir(path))+"-"+name), b, 0o644)
			}
		}
	})
}

// tail returns the last n lines of a file, for failure messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// openDB opens a SQLite file of a stopped or running process for reading.
// Read-only opening needs the -shm file of a live writer; a killed one's
// database is opened read-write, which replays its WAL exactly as the next
// start of the process would.
func openDB(t *testing.T, path string, readOnly bool) *sql.DB {
	t.Helper()
	dsn := "file:" + path + "?_busy_timeout=10000"
	if readOnly {
		dsn += "&mode=ro"
	}
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	db.SetMaxOpenConns(1)
	return db
}

// integrityCheck runs PRAGMA integrity_check and foreign_key_check on a
// database whose processes have stopped.
func integrityCheck(t *testing.T, path string) {
	t.Helper()
	db := openDB(t, path, false)
	defer db.Close()
	var res string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil {
		t.Fatalf("integrity_check %s: %v", path, err)
	}
	if res != "ok" {
		t.Errorf("integrity_check %s: %s", filepath.Base(path), res)
	}
	rows, err := db.Query(`PRAGMA foreign_key_check`)
	if err != nil {
		t.Fatalf("foreign_key_check %s: %v", path, err)
	}
	defer rows.Close()
	if rows.Next() {
		t.Errorf("foreign_key_check %s: violations found", filepath.Base(path))
	}
	t.Logf("integrity_check %s: %s", filepath.Base(path), res)
}

// ---- the oracle ----

// want is what the station saved for one record, as the oracle knows it:
// the fields each successful add returned for, and how many changes the
// station made to it (the county's rev counts applied changes, so a change
// applied twice shows as a rev too high).
type want struct {
	kind    records.Kind
	id      string
	village string
	by      string
	fields  records.Fields
	changes int
	status  string   // applications: the status the county should hold
	history []string // applications: ops in order
}

// oracle is the journal of every record the stations were told was saved.
type oracle struct {
	mu   sync.Mutex
	recs map[string]*want
}

func newOracle() *oracle { return &oracle{recs: map[string]*want{}} }

// created records a successful create.
func (o *oracle) created(kind records.Kind, id, village, by string, fields records.Fields) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, dup := o.recs[id]; dup {
		panic("oracle: id " + id + " created twice")
	}
	w := &want{kind: kind, id: id, village: village, by: by, fields: records.Fields{}, changes: 1}
	for k, v := range fields {
		w.fields[k] = v
	}
	if kind == records.Application {
		w.status = records.StatusDraft
	}
	o.recs[id] = w
}

// edited records a successful edit of some fields.
func (o *oracle) edited(id string, fields records.Fields) {
	o.mu.Lock()
	defer o.mu.Unlock()
	w := o.recs[id]
	for k, v := range fields {
		w.fields[k] = v
	}
	w.changes++
}

// set records fields that came with a decision (no change of their own).
func (o *oracle) set(id string, fields records.Fields) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for k, v := range fields {
		o.recs[id].fields[k] = v
	}
}

// intent records a successful intent or decision on an application.
func (o *oracle) intent(id string, op records.Op, to string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	w := o.recs[id]
	w.status = to
	w.history = append(w.history, string(op))
	w.changes++
}

func (o *oracle) count(kind records.Kind) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, w := range o.recs {
		if w.kind == kind {
			n++
		}
	}
	return n
}

// tally is what a comparison of the county with the oracle found.
type tally struct {
	records, lost, duplicated, extra, mismatched int
}

func (a *tally) add(b tally) {
	a.records += b.records
	a.lost += b.lost
	a.duplicated += b.duplicated
	a.extra += b.extra
	a.mismatched += b.mismatched
}

// verifyCounty compares the county's records of the given kinds with the
// oracle: every record exactly once, no record missing, no extra record,
// every field as the station saved it, rev equal to the station's number of
// changes (a higher one means a change was applied twice).
func verifyCounty(t *testing.T, c *county, o *oracle, kinds ...records.Kind) tally {
	t.Helper()
	var total tally
	reported := 0
	errorf := func(format string, args ...any) {
		t.Helper()
		reported++
		if reported <= 20 {
			t.Errorf(format, args...)
		} else {
			t.Fail()
		}
	}
	for _, kind := range kinds {
		got := c.records(kind, "")
		seen := map[string]int{}
		var tl tally
		for _, r := range got {
			seen[r.ID]++
			if seen[r.ID] > 1 {
				tl.duplicated++
				errorf("%s %s listed %d times at the county", kind, r.ID, seen[r.ID])
				continue
			}
			w := o.recs[r.ID]
			if w == nil || w.kind != kind {
				tl.extra++
				errorf("%s %s at the county was never saved at a station", kind, r.ID)
				continue
			}
			tl.records++
			if r.Rev != int64(w.changes) {
				if r.Rev > int64(w.changes) {
					tl.duplicated++
				} else {
					tl.mismatched++
				}
				errorf("%s %s: county rev %d, station made %d changes", kind, r.ID, r.Rev, w.changes)
			}
			if msg := compareFields(w, r.Fields); msg != "" {
				tl.mismatched++
				errorf("%s %s: %s", kind, r.ID, msg)
			}
			if r.Village != w.village {
				tl.mismatched++
				errorf("%s %s: village %q, station saved %q", kind, r.ID, r.Village, w.village)
			}
			if r.CreatedBy != w.by {
				tl.mismatched++
				errorf("%s %s: created_by %q, station saved %q", kind, r.ID, r.CreatedBy, w.by)
			}
			if kind == records.Application {
				var ops []string
				for _, h := range r.History {
					ops = append(ops, h.Op)
				}
				if !slices.Equal(ops, w.history) {
					tl.mismatched++
					errorf("application %s: county history %v, station asked %v", r.ID, ops, w.history)
				}
			}
		}
		var lost []string
		for id, w := range o.recs {
			if w.kind == kind && seen[id] == 0 {
				lost = append(lost, id)
			}
		}
		sort.Strings(lost)
		tl.lost = len(lost)
		for _, id := range lost {
			errorf("%s %s was saved at the station but is missing at the county", kind, id)
		}
		if reported > 20 {
			t.Logf("(%d more differences not shown)", reported-20)
			reported = 20
		}
		t.Logf("county %-11s records=%d (oracle %d) lost=%d duplicated=%d extra=%d mismatched=%d",
			kind, tl.records, o.count(kind), tl.lost, tl.duplicated, tl.extra, tl.mismatched)
		total.add(tl)
	}
	return total
}

// compareFields checks that the county holds exactly the fields the
// station saved (plus, for applications, the status the county keeps).
func compareFields(w *want, got records.Fields) string {
	var diffs []string
	for name, v := range w.fields {
		if !records.Equal(got[name], v) {
			diffs = append(diffs, fmt.Sprintf("%s=%s, station saved %s", name, got[name], v))
		}
	}
	for name, v := range got {
		if _, ok := w.fields[name]; ok {
			continue
		}
		if w.kind == records.Application && name == "status" {
			if records.TextValue(got, "status") != w.status {
				diffs = append(diffs, fmt.Sprintf("status=%s, want %q", v, w.status))
			}
			continue
		}
		if string(records.Canonical(v)) != "null" {
			diffs = append(diffs, fmt.Sprintf("%s=%s was never saved", name, v))
		}
	}
	sort.Strings(diffs)
	return strings.Join(diffs, "; ")
}

// checkCountyClean asserts the county refused nothing and kept no conflict.
func checkCountyClean(t *testing.T, c *county) {
	t.Helper()
	var rej, conf []json.RawMessage
	decodeJSON(t, c.cli("rejected"), &rej)
	decodeJSON(t, c.cli("conflicts"), &conf)
	if len(rej) != 0 {
		t.Errorf("county rejected %d changes: %s", len(rej), rej[0])
	}
	if len(conf) != 0 {
		t.Errorf("county kept %d conflicts: %s", len(conf), conf[0])
	}
}

// checkServerLog fails the test on any error or panic the county server
// logged (a 500 answered to a station is a bug even if a retry hid it).
func checkServerLog(t *testing.T, c *county) {
	t.Helper()
	b, err := os.ReadFile(c.log)
	if err != nil {
		t.Errorf("read county server log: %v", err)
		return
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "level=ERROR") || strings.Contains(line, "panic") {
			if n++; n <= 5 {
				t.Errorf("county server logged: %s", line)
			}
		}
	}
}

// checkStationDone asserts the station's outbox is empty and nothing was
// refused.
func checkStationDone(t *testing.T, s *station) {
	t.Helper()
	st := s.status()
	if st.Pending != 0 || st.Rejected != 0 || st.Conflicts != 0 || st.LastError != "" {
		t.Errorf("station %s: pending=%d rejected=%d conflicts=%d last_error=%q, want all zero", s.id, st.Pending, st.Rejected, st.Conflicts, st.LastError)
	}
}

// outboxState reads, from the databases themselves, the station's queued
// changes of its current epoch and the county's high-water mark for it.
type outboxState struct {
	pending int
	minSeq  uint64 // 0 when nothing is queued
	hwm     uint64
}

// inWindow reports whether the county holds a change the station still has
// queued: the county committed a batch and the station never saved its ack.
func (s outboxState) inWindow() bool { return s.pending > 0 && s.minSeq <= s.hwm }

func readOutboxState(t *testing.T, s *station, stationReadOnly bool, c *county, countyReadOnly bool) outboxState {
	t.Helper()
	var st outboxState
	sdb := openDB(t, s.dbPath(), stationReadOnly)
	var epoch string
	if err := sdb.QueryRow(`SELECT value FROM meta WHERE key = 'epoch'`).Scan(&epoch); err != nil {
		sdb.Close()
		t.Fatalf("read station epoch: %v", err)
	}
	var minSeq sql.NullInt64
	if err := sdb.QueryRow(`SELECT count(*), min(seq) FROM outbox WHERE epoch = ?`, epoch).Scan(&st.pending, &minSeq); err != nil {
		sdb.Close()
		t.Fatalf("read station outbox: %v", err)
	}
	sdb.Close()
	st.minSeq = uint64(minSeq.Int64)
	cdb := openDB(t, c.dbPath(), countyReadOnly)
	defer cdb.Close()
	err := cdb.QueryRow(`SELECT hwm FROM station_epochs WHERE station = ? AND epoch = ?`, s.id, epoch).Scan(&st.hwm)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("read county hwm: %v", err)
	}
	return st
}
