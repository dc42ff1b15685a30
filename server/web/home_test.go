package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// County staff land on what waits: unfollowed 紧急 visits, new
// submissions, silent stations, counted in the menu too, each within
// the user's scope.
func TestHomeShowsWhatWaits(t *testing.T) {
	f := newFixture(t)
	// Ten days on, no station has been heard from (silent after 3 days).
	f.now.Store(time.Now().Add(10 * 24 * time.Hour).UnixMilli())
	for _, tc := range []struct {
		user                      string
		urgent, submitted, silent string
	}{
		{"county", "2", "6", "2"},
		{"towna", "1", "3", "1"},
	} {
		r := f.login(tc.user).get("/")
		if r.StatusCode != http.StatusOK {
			t.Fatalf("%s: GET / %d, want the home page", tc.user, r.StatusCode)
		}
		for id, want := range map[string]string{"n-urgent": tc.urgent, "n-submitted": tc.submitted, "n-silent": tc.silent, "menu-urgent": tc.urgent, "menu-submitted": tc.submitted, "menu-silent": tc.silent} {
			if !strings.Contains(r.body, `id="`+id+`">`+want+`<`) {
				t.Errorf("%s: %s is not %s", tc.user, id, want)
			}
		}
		if tc.user == "towna" && strings.Contains(r.body, f.names[villB][0]) {
			t.Error("township home shows another township's person")
		}
		if !strings.Contains(r.body, f.names[villA][0]) {
			t.Errorf("%s: home does not name the person of the 紧急 visit", tc.user)
		}
	}
	// The menu carries the counts on other pages too.
	if b := f.login("county").get("/records/person").body; !strings.Contains(b, `id="menu-submitted">6<`) {
		t.Error("menu lacks the count of new submissions")
	}
}
