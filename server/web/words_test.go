package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"stationsync/internal/hlc"
	"stationsync/internal/pii"
	"stationsync/internal/records"
	"stationsync/server"
	"stationsync/syncproto"
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

// The portal masks every personal number of a published notice but the
// mobile numbers its publisher marked (public_numbers), which a station
// sends as an ordinary field: a number not marked is masked in whatever
// spelling, also next to a marked one, and an ID number is masked even
// when listed by a forged change.
func TestPortalShowsOnlyMarkedNumbers(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sts, _ := f.store.Stations(ctx)
	var stn *server.Station
	for i := range sts {
		if sts[i].Village == villA {
			stn = &sts[i]
		}
	}
	today := time.Now()
	body := "村会计王建国，电话 139-0551-0456；村委会 0551-66661234。\n" +
		"低保户王秀英 电话：１３８ ００１３ ８０００，又写作 +86 138-0013-8000、一三八零零一三八零零零，身份证 340123195003070022。"
	fields := map[string]any{
		"category": "财务公开", "title": "财务公开 联系 13905510456", "body": body, "reviewer": "陈德明",
		"publish_from": today.AddDate(0, 0, -1).Format("2006-01-02"), "publish_until": today.AddDate(0, 0, 6).Format("2006-01-02"), "status": "published",
		"public_numbers": []string{"13905510456"},
	}
	raw := map[string]json.RawMessage{}
	for k, v := range fields {
		raw[k], _ = json.Marshal(v)
	}
	b := &syncproto.Batch{Version: syncproto.Version, Station: stn.ID, Epoch: "e2", Village: villA, Changes: []syncproto.Change{
		{Seq: 1, HLC: uint64(hlc.FromTime(today)), Kind: "disclosure", ID: villA + "_pubnum01", Op: "upsert", Fields: raw, By: "村干部"},
	}}
	res, err := f.store.Push(ctx, stn, b)
	if err != nil || res.Results[0].Status != syncproto.Applied {
		t.Fatalf("push: %v %+v", err, res)
	}
	for _, path := range []string{"/public/d/" + villA + "_pubnum01", "/public/v/" + villA} {
		r := f.client().get(path)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", path, r.StatusCode)
		}
		if !strings.Contains(r.body, "联系 13905510456") {
			t.Errorf("%s: the marked number is not whole in the title", path)
		}
		if path[:9] == "/public/d" {
			for _, want := range []string{"电话 139-0551-0456", "0551-66661234", "340123********0022"} {
				if !strings.Contains(r.body, want) {
					t.Errorf("%s lacks %q", path, want)
				}
			}
		}
		// 王秀英's number, in none of its spellings.
		if n := pii.Normalize(r.body); strings.Contains(n, "13800138000") || strings.Contains(n, "340123195003070022") {
			t.Errorf("%s shows an unmarked number: %s", path, r.body)
		}
	}

	// A forged change listing an ID number is refused by the county.
	raw["public_numbers"], _ = json.Marshal([]string{"340123195003070022"})
	b.Changes[0].Seq, b.Changes[0].HLC = 2, b.Changes[0].HLC+1
	res, err = f.store.Push(ctx, stn, b)
	if err != nil || res.Results[0].Status == syncproto.Applied {
		t.Fatalf("an ID number listed as public was applied: %v %+v", err, res)
	}
}
