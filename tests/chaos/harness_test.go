package chaos

import (
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/linkem"
	"stationsync/internal/testsupport"
)

// station is a station agent in this process (see testsupport.Station).
type station = testsupport.Station

// newProcCounty prepares a county-server process built with failpoints.
func newProcCounty(t *testing.T) *testsupport.CountyProc {
	return testsupport.NewCountyProc(t, bin.Server, "LOG_LEVEL=info")
}

// procScenario starts a county-server process holding a code for village,
// a link to it with opts, and a station in this process (in dir, a fresh
// one when "") enrolled through the link.
func procScenario(t *testing.T, village string, opts linkem.Options, dir string, cfg agent.Config) (*testsupport.CountyProc, *linkem.Proxy, *station) {
	t.Helper()
	c := newProcCounty(t)
	code := c.Codes([]string{village})[0]
	c.Start()
	px := testsupport.NewLink(t, c.Addr, opts)
	s := testsupport.OpenStation(t, dir, cfg)
	s.MustEnroll(t, px.URL(), code, village)
	return c, px, s
}

// settleAndVerify lets the station finish syncing, stops the county and
// checks both sides against the oracle and SQLite's integrity check; the
// station is closed afterwards.
func settleAndVerify(t *testing.T, c *testsupport.CountyProc, s *station, o *oracle, timeout time.Duration) tally {
	t.Helper()
	testsupport.Settle(t, []*station{s}, timeout)
	c.Stop()
	cs := c.Open()
	defer cs.Close()
	tl := verify(t, cs, []*agent.Agent{s.Agent}, o)
	s.Close()
	testsupport.CheckIntegrity(t, s.DBPath(), c.DBPath())
	return tl
}

// run runs a binary to completion, quietly, with env added.
func run(env []string, name string, args ...string) testsupport.Result {
	return testsupport.Exec(2*time.Minute, append([]string{"LOG_LEVEL=warn"}, env...), nil, name, args...)
}

// healAndVerify restores a clean link to the in-process county, stops the
// stations' loops, lets sync settle, and checks every side against the
// oracle; the stations are closed and pass SQLite's integrity check.
func healAndVerify(t *testing.T, c *testsupport.County, ss []*station, o *oracle) tally {
	t.Helper()
	c.LinkUp()
	for _, s := range ss {
		s.Halt()
	}
	testsupport.Settle(t, ss, 2*time.Minute)
	tl := verify(t, c.Store, agentsOf(ss), o)
	for _, s := range ss {
		s.Close()
		testsupport.CheckIntegrity(t, s.DBPath())
	}
	return tl
}

func agentsOf(ss []*station) []*agent.Agent {
	out := make([]*agent.Agent, len(ss))
	for i, s := range ss {
		out[i] = s.Agent
	}
	return out
}
