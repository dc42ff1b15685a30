package server

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"stationsync/syncproto"
)

// A county that typed no names still names itself, the township and the
// village to the cadre confirming an enrollment: the official ones.
func TestEnrollAnswerNamesOfficialPlaces(t *testing.T) {
	st, url := newEnrollServer(t)
	ctx := context.Background()
	for _, c := range []struct{ village, county, township, name string }{
		{"340123101202", "肥西县", "三河镇", "太华村"},
		{"340123101201", "肥西县", "三河镇", ""}, // not in the table
	} {
		code, err := st.CreateCode(ctx, c.village, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		pub, _, _ := ed25519.GenerateKey(nil)
		resp, err := syncproto.NewClient(url).Enroll(ctx, syncproto.EnrollRequest{Code: code, PublicKey: pub})
		if err != nil {
			t.Fatal(err)
		}
		if resp.CountyName != c.county || resp.TownshipName != c.township || resp.VillageName != c.name {
			t.Errorf("%s: named %q %q %q, want %q %q %q", c.village, resp.CountyName, resp.TownshipName, resp.VillageName, c.county, c.township, c.name)
		}
	}
}

func TestPlaceNameTypedWins(t *testing.T) {
	typed := map[string]string{"340123": "肥西县民政局", "340123101202": "  ", "340123101201": "张庄村"}
	for code, want := range map[string]string{
		"340123": "肥西县民政局", "340123101202": "太华村", "340123101201": "张庄村", "340123101": "三河镇", "340123102201": "",
	} {
		if got := PlaceName(typed, code); got != want {
			t.Errorf("PlaceName(%s) = %q, want %q", code, got, want)
		}
	}
}
