package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
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
