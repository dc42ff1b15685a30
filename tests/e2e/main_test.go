// Package e2e runs the real station-agent and county-server binaries as
// separate processes, kills them with SIGKILL at random moments and checks,
// against an oracle kept outside the system (testsupport.Oracle), that
// nothing was lost and nothing arrived twice.
//
// TestMain builds both binaries once (without -race). Every test logs its
// seed; E2E_SEED=N replays one. E2E_LOGDIR=DIR keeps the processes' logs
// (LOG_LEVEL=debug) after the temporary directories are gone. -short runs
// fewer cycles and keeps every assertion.
package e2e

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"testing"

	"stationsync/internal/records"
	"stationsync/internal/testsupport"
)

// bin holds the paths of the binaries TestMain builds.
var bin testsupport.Binaries

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	b, remove, err := testsupport.Build("e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer remove()
	bin = b
	return m.Run()
}

// newCounty prepares a county-server process that logs at debug level.
func newCounty(t *testing.T) *testsupport.CountyProc {
	return testsupport.NewCountyProc(t, bin.Server, "LOG_LEVEL=debug")
}

// newStation prepares a station of village driven through station-agent.
func newStation(t *testing.T, village string) *testsupport.StationProc {
	return testsupport.NewStationProc(t, bin.Agent, village)
}

// verifyCounty compares the county's records of the given kinds with the
// oracle (testsupport.Oracle.CheckCounty) and logs the figures per kind.
func verifyCounty(t *testing.T, c *testsupport.CountyProc, o *testsupport.Oracle, kinds ...records.Kind) testsupport.Tally {
	t.Helper()
	var total testsupport.Tally
	for _, kind := range kinds {
		tl, diffs := o.CheckCounty(kind, c.Records(kind, ""))
		testsupport.Report(t, diffs)
		t.Logf("county %-11s records=%d (oracle %d) lost=%d duplicated=%d extra=%d mismatched=%d",
			kind, tl.Records, o.Count(kind), tl.Lost, tl.Duplicated, tl.Extra, tl.Mismatched)
		total.Add(tl)
	}
	return total
}

// verifyStation checks that the station itself still holds every record
// the oracle knows of its village, as saved (an application with the
// status the county gave it), and nothing else.
func verifyStation(t *testing.T, s *testsupport.StationProc, o *testsupport.Oracle) {
	t.Helper()
	for _, kind := range []records.Kind{records.Person, records.Visit, records.Application} {
		testsupport.Report(t, o.CheckStation(s.Village, kind, s.List(kind)))
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

func readOutboxState(t *testing.T, s *testsupport.StationProc, stationReadOnly bool, c *testsupport.CountyProc, countyReadOnly bool) outboxState {
	t.Helper()
	var st outboxState
	sdb := testsupport.OpenDB(t, s.DBPath(), stationReadOnly)
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
	cdb := testsupport.OpenDB(t, c.DBPath(), countyReadOnly)
	defer cdb.Close()
	err := cdb.QueryRow(`SELECT hwm FROM station_epochs WHERE station = ? AND epoch = ?`, s.ID, epoch).Scan(&st.hwm)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("read county hwm: %v", err)
	}
	return st
}
