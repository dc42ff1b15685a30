package countyweb

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"testing"
	"time"

	agentweb "stationsync/agent/web"
	"stationsync/internal/gen"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
)

// The whole test binary runs as a server whose zone is UTC (a Linux
// default), set before any test starts: setting time.Local inside a test
// races with the HTTP servers of earlier tests that are still closing.
func init() { time.Local = time.UTC }

var (
	countyAcceptRe  = regexp.MustCompile(`<tr><td>(\d{4}-\d\d-\d\d \d\d:\d\d)</td><td>已提交</td><td>已受理</td>`)
	stationAcceptRe = regexp.MustCompile(`<tr><td>(\d{4}-\d\d-\d\d \d\d:\d\d)</td><td>[^<]*</td><td>受理</td>`)
)

// TestStationAndCountyShowTheSameMinute: the county server runs in UTC (a
// Linux default), the station does not care; an acceptance made in the
// county's pages shows at the same date and minute on the county's
// record page and on the station's application page after sync.
func TestStationAndCountyShowTheSameMinute(t *testing.T) {
	ctx := context.Background()
	c := newCounty(t)
	a := c.station(t, village)
	g := gen.New(11)
	p := g.Person(village)
	pid, err := a.Store.Save(ctx, records.Person, "", testsupport.Fields(p), "李明")
	if err != nil {
		t.Fatal(err)
	}
	app := g.Application(pid, p)
	delete(app, "status")
	aid, err := a.Store.Save(ctx, records.Application, "", testsupport.Fields(app), "李明")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Store.Intent(ctx, aid, records.OpSubmit, "", "李明"); err != nil {
		t.Fatal(err)
	}
	a.MustSync(t)
	staff := c.login(t)
	if r := staff.post("/applications/decide", url.Values{"id": {aid}, "op": {"accept"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("accept: %d", r.StatusCode)
	}
	a.MustSync(t)
	_, body := staff.get("/records/application/" + aid)
	m := countyAcceptRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no acceptance in the county's history: %s", body)
	}
	county := m[1]

	ws, err := agentweb.New(a.Agent, agentweb.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ws.Handler())
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	if r, err := hc.PostForm(srv.URL+"/setup", url.Values{"name": {"李明"}, "pin": {"246810"}, "pin2": {"246810"}}); err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("station setup: %v %v", r.StatusCode, err)
	}
	r, err := hc.Get(srv.URL + "/applications/" + aid)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var b []byte
	b, _ = io.ReadAll(r.Body)
	m = stationAcceptRe.FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("no acceptance in the station's history: %s", b)
	}
	if m[1] != county {
		t.Errorf("the same acceptance: %s at the station, %s at the county", m[1], county)
	}
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	if now := time.Now().In(shanghai); county[:10] != now.Format(time.DateOnly) && county[:10] != now.Add(-time.Minute).Format(time.DateOnly) {
		t.Errorf("county shows %s, not China's date %s", county, now.Format(time.DateOnly))
	}
}
