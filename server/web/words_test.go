package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"stationsync/internal/records"
	"stationsync/server"
)

// The county's stations page says how a station's clock stands in words:
// "时钟准确" within a minute (a request's travel time made "慢 0s"), and
// "慢 3 分钟" or "快 2 小时" beyond it.
func TestStationClockInWords(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sts, err := f.store.Stations(ctx)
	if err != nil || len(sts) < 2 {
		t.Fatalf("stations: %v %d", err, len(sts))
	}
	if err := f.store.Touch(ctx, sts[0].ID, 0, "test", "", -400*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := f.store.Touch(ctx, sts[1].ID, 0, "test", "", -(3*time.Minute + 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	r := f.login("admin").get("/stations")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("stations: %d", r.StatusCode)
	}
	for _, want := range []string{">时钟准确<", ">时钟慢 3 分钟<"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("stations page lacks %q", want)
		}
	}
	for _, bad := range []string{"慢 0s", "0s<", "ms<"} {
		if strings.Contains(r.body, bad) {
			t.Errorf("stations page shows %q", bad)
		}
	}
}

// The review queue's bulk form offers only the decisions valid for the
// applications on the tab: all five only where they all apply, none (and
// no checkboxes) where the applications are finished.
func TestBulkQueueOffersValidDecisions(t *testing.T) {
	f := newFixture(t)
	county, town := f.login("county"), f.login("towna")
	ctx := context.Background()
	// One application of village A accepted, one approved.
	a, b := f.apps[villA][0], f.apps[villA][1]
	for _, d := range []server.Decision{
		{ApplicationID: a, Op: records.OpAccept, By: "县民政局"},
		{ApplicationID: b, Op: records.OpAccept, By: "县民政局"},
		{ApplicationID: b, Op: records.OpApprove, By: "县民政局", AmountFen: 65000, FromMonth: "2026-01"},
	} {
		if err := f.store.Decide(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		c      *client
		status string
		want   string
	}{
		{county, "submitted", "accept review approve reject return"},
		{town, "submitted", "accept review return"},
		{county, "accepted", "review approve reject return"},
		{county, "reviewing", "approve reject return"},
		{county, "approved", ""},
		{county, "withdrawn", ""},
	} {
		r := tc.c.get("/applications?status=" + tc.status)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", tc.status, r.StatusCode)
		}
		if got := strings.Join(opsOffered(r.body), " "); got != tc.want {
			t.Errorf("tab %s offers %q, want %q", tc.status, got, tc.want)
		}
		hasBoxes := strings.Contains(r.body, `name="id" value=`)
		if tc.want == "" && hasBoxes {
			t.Errorf("tab %s: checkboxes without a decision to take", tc.status)
		}
		if tc.status == "approved" && !strings.Contains(r.body, `id="no-decision"`) {
			t.Errorf("tab approved does not say why nothing is offered")
		}
	}
}
