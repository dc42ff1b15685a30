package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"stationsync/internal/records"
)

// The whole test binary runs as a server whose zone is UTC (a Linux
// default), set before any test starts: setting time.Local inside a test
// races with the HTTP servers of earlier tests that are still closing.
func init() { time.Local = time.UTC }

// TestTimesInChinaWhateverTheServerZone: on a server whose zone is UTC (a
// Linux default), a decision taken at a known instant shows in China time
// on the record page, the list, the audit log and the CSV export, and its
// UTC rendering appears nowhere.
func TestTimesInChinaWhateverTheServerZone(t *testing.T) {

	f := newFixture(t)
	r := f.seedRich(10)
	// A known instant, after the seed's clocks.
	instant := time.Now().Add(time.Hour).Truncate(time.Minute).Add(21 * time.Second)
	f.now.Store(instant.UnixMilli())
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	china := instant.In(shanghai).Format("2006-01-02 15:04")
	utc := instant.UTC().Format("2006-01-02 15:04")
	aid := r.apps[records.StatusSubmitted]
	c := f.login("county")
	if resp := c.post("/applications/decide", url.Values{"id": {aid}, "op": {"accept"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("decide: %d", resp.StatusCode)
	}
	admin := f.login("admin")
	for _, p := range []struct {
		who  *client
		path string
	}{
		{c, "/records/application/" + aid},
		{c, "/records/application?status=accepted&place=" + richVill},
		{c, "/applications?status=accepted"},
		{c, "/export/application.csv?status=accepted&place=" + richVill},
		{admin, "/audit?action=decision"},
	} {
		resp := p.who.get(p.path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", p.path, resp.StatusCode)
		}
		if !strings.Contains(resp.body, china) {
			t.Errorf("%s does not show the decision at %s (China time)", p.path, china)
		}
		if strings.Contains(resp.body, utc) {
			t.Errorf("%s shows %s, the server's UTC", p.path, utc)
		}
	}
	// The record page's per-field times have seconds.
	if page := c.get("/records/application/" + aid); !strings.Contains(page.body, instant.In(shanghai).Format("2006-01-02 15:04:05")) {
		t.Errorf("record page: the status field's time is not %s", instant.In(shanghai).Format("2006-01-02 15:04:05"))
	}
	// The export's file name is stamped in China time too.
	if resp := c.get("/export/application.csv"); !strings.Contains(resp.Header.Get("Content-Disposition"), instant.In(shanghai).Format("20060102_1504")) {
		t.Errorf("export file name %q", resp.Header.Get("Content-Disposition"))
	}
}

// "Today" is the users' day: at 20:00 UTC it is already tomorrow in China,
// and the audit filter and a follow-up computed then count from the
// Chinese date.
func TestAuditDayFilterIsChinaDay(t *testing.T) {
	f := newFixture(t)
	// 01:30 in China on day D is 17:30 UTC on day D-1.
	day := time.Now().AddDate(0, 0, 1)
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	at := time.Date(day.Year(), day.Month(), day.Day(), 1, 30, 0, 0, shanghai)
	f.now.Store(at.UnixMilli())
	a := f.login("admin") // audited at `at`
	d := at.Format(time.DateOnly)
	if page := a.get("/audit?action=login&from=" + d + "&to=" + d); !strings.Contains(page.body, at.Format("2006-01-02 15:04")) {
		t.Errorf("the login at %s is not in the audit log of %s", at.Format("15:04"), d)
	}
	prev := at.AddDate(0, 0, -1).Format(time.DateOnly)
	if page := a.get("/audit?action=login&from=" + prev + "&to=" + prev); strings.Contains(page.body, at.Format("2006-01-02 15:04")) {
		t.Errorf("the login at %s China time is filed under the UTC day %s", at.Format("15:04"), prev)
	}
}
