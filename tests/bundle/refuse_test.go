package bundle

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stationsync/agent"
	"stationsync/internal/bundle"
	"stationsync/internal/gen"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
	"stationsync/server"
)

// The way there and back once: a station offline for weeks exports, the
// county imports (twice: a replay is harmless), the station imports the
// answer; records and files end where an online round would put them.
func TestBundleRoundTrip(t *testing.T) {
	ctx := context.Background()
	c := testsupport.NewCounty(t)
	s := testsupport.NewStation(t, c, village, agent.Config{})
	rng := rand.New(rand.NewPCG(1, 2))
	g := gen.New(5)
	c.LinkDown()
	_, visits := s.AddPeople(t, g, village, 4)
	hash, err := s.Attach(ctx, visits[0], "走访.png", "测试员", bytes.NewReader(pngPhoto(t, rng)))
	if err != nil {
		t.Fatal(err)
	}
	stick := t.TempDir()
	ex, err := s.Export(ctx, stick)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Changes != 4*3+1 || ex.Files != 1 {
		t.Fatalf("exported %d changes, %d files; want 13, 1", ex.Changes, ex.Files)
	}
	if _, _, _, _, ok := bundle.ParseFileName(ex.Path); !ok || !strings.HasPrefix(filepath.Base(ex.Path), "村站通-"+village+"-") {
		t.Fatalf("bundle named %s", filepath.Base(ex.Path))
	}
	res, err := importAtCounty(ctx, c, ex.Path, "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Applied != 13 || res.Duplicate != 0 || res.FilesStored != 1 || !hasFile(t, c, hash) {
		t.Fatalf("first import: %+v", res)
	}
	again, err := importAtCounty(ctx, c, ex.Path, "")
	if err != nil {
		t.Fatalf("a replayed bundle is harmless, not refused: %v", err)
	}
	if again.Applied != 0 || again.Duplicate != 13 {
		t.Fatalf("replay applied %d, duplicate %d", again.Applied, again.Duplicate)
	}
	if got := len(c.Records(t, records.Visit, village)); got != 8 {
		t.Fatalf("county holds %d visits, want 8", got)
	}
	// The county decides nothing here; a county edit goes down with the
	// next downlink.
	imp, err := s.Import(ctx, res.Downlink)
	if err != nil {
		t.Fatal(err)
	}
	if imp.Acked != 13 || imp.FilesAcked != 1 || s.Pending(t) != 0 {
		t.Fatalf("downlink import: %+v, pending %d", imp, s.Pending(t))
	}
	if imp2, err := s.Import(ctx, again.Downlink); err != nil || imp2.Acked != 0 {
		t.Fatalf("second downlink: %+v, %v", imp2, err)
	}
	list, err := s.Attachments(ctx, visits[0])
	if err != nil || len(list) != 1 || list[0].State != agent.FileAcked {
		t.Fatalf("attachments after the downlink: %+v, %v", list, err)
	}
	testsupport.AssertConverged(t, c, s, village)
	// And online afterwards finds nothing to do.
	c.LinkUp()
	if r := s.MustSync(t); r.Pushed != 0 || r.Pulled != 0 {
		t.Fatalf("online round after the bundles: %+v", r)
	}
}

// Every bundle the county must refuse is refused with its own code and a
// Chinese message, and changes nothing; a replay is not refused.
func TestCountyRefusesBadBundles(t *testing.T) {
	ctx := context.Background()
	c := testsupport.NewCounty(t)
	s := testsupport.NewStation(t, c, village, agent.Config{})
	g := gen.New(9)
	c.LinkDown()
	s.AddPeople(t, g, village, 3)
	stick := t.TempDir()
	ex, err := s.Export(ctx, stick)
	if err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(ex.Path)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flip := func(at int) []byte {
		b := bytes.Clone(good)
		b[at] ^= 0x20
		return b
	}
	future := bytes.Clone(good)
	binary.BigEndian.PutUint16(future[8:], bundle.Version+1)

	// A station of another county: unknown here.
	other := testsupport.NewCounty(t)
	foreign := testsupport.NewStation(t, other, "340123101203", agent.Config{})
	foreign.AddPeople(t, g, "340123101203", 1)
	fx, err := foreign.Export(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// The county's own downlink, carried back to the county by mistake.
	c.LinkUp()
	s2 := testsupport.NewStation(t, c, "340123101202", agent.Config{})
	s2.AddPeople(t, g, "340123101202", 1)
	x2, err := s2.Export(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r2, err := importAtCounty(ctx, c, x2.Path, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name, path, code, says string
	}{
		{"tampered entry", write("t1.bundle", flip(200)), bundle.CodeCorrupt, "损坏或被改动"},
		{"tampered manifest", write("t2.bundle", flip(len(good)-100)), "", "不能导入"},
		{"truncated", write("cut.bundle", good[:len(good)/2]), bundle.CodeTruncated, "不完整"},
		{"truncated to nothing", write("empty.bundle", nil), bundle.CodeTruncated, "不完整"},
		{"future format", write("future.bundle", future), bundle.CodeVersion, "升级"},
		{"not a bundle", write("photo.bundle", []byte("\xff\xd8\xff\xe0 a photo")), bundle.CodeNotBundle, "不是村站通的数据包"},
		{"foreign station", fx.Path, server.CodeBundleUnknownStation, "没有注册的站点"},
		{"wrong kind", r2.Downlink, bundle.CodeWrongKind, "县里发回的回执"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := countyState(t, c)
			_, err := importAtCounty(ctx, c, tc.path, t.TempDir())
			if err == nil {
				t.Fatal("imported")
			}
			var be *bundle.Error
			if !errors.As(err, &be) || (tc.code != "" && be.Code != tc.code) {
				t.Fatalf("error %v (%T), want code %q", err, err, tc.code)
			}
			if msg := server.RefusalMessage(err); !strings.Contains(msg, tc.says) {
				t.Fatalf("message %q does not say %q", msg, tc.says)
			}
			if after := countyState(t, c); after != before {
				t.Fatalf("a refused bundle changed the county:\n%s\n%s", before, after)
			}
		})
	}

	// Revoked: the good bundle is refused once its station is revoked.
	before := countyState(t, c)
	if err := c.Store.Revoke(ctx, s.Store.Meta(ctx, "station_id")); err != nil {
		t.Fatal(err)
	}
	_, err = importAtCounty(ctx, c, ex.Path, t.TempDir())
	var be *bundle.Error
	if !errors.As(err, &be) || be.Code != server.CodeBundleRevoked || !strings.Contains(be.Message, "停用") {
		t.Fatalf("revoked station's bundle: %v", err)
	}
	if after := countyState(t, c); after != before {
		t.Fatalf("a revoked station's bundle changed the county:\n%s\n%s", before, after)
	}
	// Every refusal is in the audit log.
	entries, _, err := c.Store.AuditLog(ctx, server.AuditFilter{Action: server.AuditBundleImportFailed, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, e := range entries {
		if e.Action == server.AuditBundleImportFailed {
			refused++
		}
	}
	if refused != len(cases)+1 {
		t.Fatalf("%d refusals audited, want %d", refused, len(cases)+1)
	}
}

// The station refuses a downlink not signed by its county, for another
// station, damaged or cut short, an uplink, and one it cannot check yet;
// each changes nothing.
func TestStationRefusesBadDownlinks(t *testing.T) {
	ctx := context.Background()
	c := testsupport.NewCounty(t)
	s := testsupport.NewStation(t, c, village, agent.Config{})
	s2 := testsupport.NewStation(t, c, "340123101202", agent.Config{})
	g := gen.New(11)
	c.LinkDown()
	s.AddPeople(t, g, village, 2)
	s2.AddPeople(t, g, "340123101202", 1)
	ex, err := s.Export(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	res, err := importAtCounty(ctx, c, ex.Path, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	x2, err := s2.Export(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r2, err := importAtCounty(ctx, c, x2.Path, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Another county's downlink for a station of the same id cannot be
	// made; one signed by another county's key is: a county of its own
	// with a station enrolled under this village.
	other := testsupport.NewCounty(t)
	so := testsupport.NewStation(t, other, village, agent.Config{})
	so.AddPeople(t, g, village, 1)
	xo, err := so.Export(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ro, err := other.Store.ImportBundle(ctx, server.BundleImport{Path: xo.Path, OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(res.Downlink)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tampered := bytes.Clone(good)
	tampered[20] ^= 1
	cases := []struct {
		name, path, code, says string
	}{
		{"for another station", r2.Downlink, bundle.CodeWrongStation, "另一个村站"},
		{"another county's key", ro.Downlink, bundle.CodeBadSignature, "签名不对"},
		{"tampered", write("t.bundle", tampered), bundle.CodeCorrupt, "损坏或被改动"},
		{"truncated", write("cut.bundle", good[:len(good)-30]), bundle.CodeTruncated, "不完整"},
		{"an uplink", ex.Path, bundle.CodeWrongKind, "县级服务器"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := stationState(t, s)
			_, err := s.Import(ctx, tc.path)
			var be *bundle.Error
			if !errors.As(err, &be) || be.Code != tc.code || !strings.Contains(be.Message, tc.says) {
				t.Fatalf("error %v, want code %q saying %q", err, tc.code, tc.says)
			}
			if after := stationState(t, s); after != before {
				t.Fatalf("a refused downlink changed the station:\n%s\n%s", before, after)
			}
		})
	}
	// A station that has not learnt the county's key (enrolled with a
	// county before bundles) says what to do.
	key := s.Store.Meta(ctx, "county_bundle_key")
	if err := s.Store.SetMeta(ctx, map[string]string{"county_bundle_key": ""}); err != nil {
		t.Fatal(err)
	}
	before := stationState(t, s)
	_, err = s.Import(ctx, res.Downlink)
	if err == nil || !strings.Contains(err.Error(), "联网同步一次") || stationState(t, s) != before {
		t.Fatalf("without the county's key: %v", err)
	}
	// It learns it from the next pull answer, and then the same downlink
	// goes in.
	c.LinkUp()
	s.MustSync(t)
	if got := s.Store.Meta(ctx, "county_bundle_key"); got != key {
		t.Fatalf("key after a pull %q, want %q", got, key)
	}
	if _, err := s.Import(ctx, res.Downlink); err != nil {
		t.Fatal(err)
	}
}

// An uplink whose envelopes a newer station sealed in a protocol version
// this county does not know says to upgrade the county, and changes
// nothing.
func TestCountyRefusesNewerProtocol(t *testing.T) {
	ctx := context.Background()
	c := testsupport.NewCounty(t)
	s := testsupport.NewStation(t, c, village, agent.Config{})
	key, err := os.ReadFile(filepath.Join(s.Dir, "station.key"))
	if err != nil {
		t.Fatal(err)
	}
	header := []byte(`{"v":3,"station":"` + s.Store.Meta(ctx, "station_id") + `","epoch":"e","first":1,"last":1,"count":1,"enc":"zstd-v3"}`)
	env := append([]byte("SSB1"), byte(len(header)>>8), byte(len(header)))
	env = append(env, header...)
	env = append(env, 0, 0, 0, 4, 1, 2, 3, 4)
	env = append(env, ed25519.Sign(key, env)...)
	w, err := bundle.Create(t.TempDir(), bundle.Manifest{Kind: bundle.Uplink, Station: s.Store.Meta(ctx, "station_id"), Village: village, Created: 1})
	if err != nil {
		t.Fatal(err)
	}
	w.Add(bundle.TypeEnvelope, "", env)
	w.Add(bundle.TypeState, "", []byte(`{"epoch":"e","cursor":0,"feed_epoch":"","pending":1,"have":[]}`))
	path, err := w.Commit(ed25519.PrivateKey(key))
	if err != nil {
		t.Fatal(err)
	}
	before := countyState(t, c)
	_, err = importAtCounty(ctx, c, path, t.TempDir())
	var be *bundle.Error
	if !errors.As(err, &be) || be.Code != bundle.CodeVersion || !strings.Contains(be.Message, "请先升级县级服务器") {
		t.Fatalf("newer protocol: %v", err)
	}
	if countyState(t, c) != before {
		t.Fatal("a refused bundle changed the county")
	}
}
