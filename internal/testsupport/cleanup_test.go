package testsupport

import (
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"stationsync/internal/linkem"
	"stationsync/internal/testproc"
)

// ending is a test whose end this test decides: it keeps the cleanups a
// helper registers and runs them when told, as the testing package does
// when a test ends, whether it passed, failed or called t.Fatal.
type ending struct {
	testing.TB
	cleanups []func()
}

func (e *ending) Cleanup(f func()) { e.cleanups = append(e.cleanups, f) }

func (e *ending) end() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
}

// What the helpers start, the end of the test stops: a county's server
// and link, a station's sync loop and database, a child process.
func TestCleanupStopsWhatItStarted(t *testing.T) {
	e := &ending{TB: t}
	c := NewCounty(e)
	px := NewLink(e, c.HTTP.Listener.Addr().String(), linkem.Options{})
	s := NewStation(e, c, "340123101201", FastConfig())
	s.Start()
	p := testproc.Start(e, filepath.Join(t.TempDir(), "sleep.log"), nil, "sleep", "60")
	e.end()

	if !s.closed || s.cancel != nil {
		t.Error("the station's sync loop or database outlived the test")
	}
	if _, err := s.Store.Pending(t.Context()); err == nil {
		t.Error("the station's database still answers after the test")
	}
	cl := &http.Client{Timeout: 2 * time.Second}
	if resp, err := cl.Get(c.HTTP.URL + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("the county still answers after the test")
	}
	for _, addr := range []string{c.Link.Addr(), px.Addr()} {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			t.Errorf("link %s still accepts after the test", addr)
		}
	}
	if !p.Exited() {
		t.Error("the child process outlived the test")
	}
}
