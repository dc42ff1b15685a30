// Package integration tests a county server and station agents together,
// in one process, over real HTTP on 127.0.0.1 and real SQLite files
// (testsupport.County and testsupport.Station).
package integration

import (
	"encoding/json"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/testsupport"
)

type station = testsupport.Station

// newStation opens a station on the clock now (nil: the machine's) in a
// fresh folder and enrols it for village.
func newStation(t *testing.T, c *testsupport.County, village string, now func() time.Time) *station {
	t.Helper()
	return testsupport.NewStation(t, c, village, agent.Config{Now: now})
}

// openStation opens the station in dir (a fresh one when "") on the clock
// now, without enrolling it.
func openStation(t *testing.T, dir string, now func() time.Time) *station {
	t.Helper()
	return testsupport.OpenStation(t, dir, agent.Config{Now: now})
}

func js(v any) string { b, _ := json.Marshal(v); return string(b) }
