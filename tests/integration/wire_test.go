package integration

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/google/uuid"

	"stationsync/internal/gen"
	"stationsync/internal/hlc"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
	"stationsync/syncproto"
)

// rawStation is a station driven by hand: it seals batches itself, so
// tests can replay, reorder, forge and break them.
type rawStation struct {
	id, village, epoch string
	key                ed25519.PrivateKey
	url                string
}

func newRawStation(t *testing.T, c *testsupport.County, village string) *rawStation {
	t.Helper()
	s := newStation(t, c, village, nil)
	key, err := os.ReadFile(filepath.Join(s.Dir, "station.key"))
	if err != nil {
		t.Fatal(err)
	}
	return &rawStation{id: s.Store.Meta(context.Background(), "station_id"), village: village, epoch: "e1", key: key, url: c.HTTP.URL}
}

// personChanges makes n person creations numbered from first.
func personChanges(g *gen.Generator, village string, first uint64, n int) []syncproto.Change {
	out := make([]syncproto.Change, n)
	for i := range out {
		out[i] = syncproto.Change{
			Seq: first + uint64(i), HLC: uint64(hlc.FromTime(time.Now())) + uint64(i), Kind: "person",
			ID: uuid.Must(uuid.NewV7()).String(), Op: "upsert", Fields: testsupport.Fields(g.Person(village)), By: "测试员",
		}
	}
	return out
}

func (r *rawStation) seal(t *testing.T, changes []syncproto.Change) []byte {
	t.Helper()
	env, err := syncproto.SealBatch(&syncproto.Batch{Version: syncproto.Version, Station: r.id, Epoch: r.epoch, Village: r.village, Changes: changes}, r.key, syncproto.Fast)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

type answer struct {
	status int
	result *syncproto.PushResult
	err    syncproto.ErrorBody
}

// post pushes body signed by s, as a station does: the county checks who
// signed before it reads the body.
func post(t *testing.T, s *rawStation, body []byte, header map[string]string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.url+"/v1/push", bytes.NewReader(body))
	req.Header.Set(syncproto.HeaderVersion, "1")
	req.Header.Set("Authorization", syncproto.SignRequest(s.key, s.id, http.MethodPost, "/v1/push", time.Now(), body))
	req.Header.Set(syncproto.HeaderContentSHA256, syncproto.BodyHash(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode}
	if resp.StatusCode == 200 {
		raw, err = syncproto.Decompress(raw, 64<<20)
		if err != nil {
			t.Fatal(err)
		}
		a.result = new(syncproto.PushResult)
		if err := json.Unmarshal(raw, a.result); err != nil {
			t.Fatal(err)
		}
	} else if err := json.Unmarshal(raw, &a.err); err != nil {
		t.Fatalf("error body is not JSON: %q", raw)
	}
	return a
}

func statuses(r *syncproto.PushResult) map[string]int {
	out := map[string]int{}
	for _, x := range r.Results {
		out[x.Status]++
	}
	return out
}

func TestReplayedReorderedOverlappingBatches(t *testing.T) {
	c := testsupport.NewCounty(t)
	r := newRawStation(t, c, villageA)
	g := gen.New(21)
	all := personChanges(g, villageA, 1, 400)
	b1, b2, b3 := r.seal(t, all[0:100]), r.seal(t, all[100:200]), r.seal(t, all[200:300])

	if a := post(t, r, b1, nil); a.status != 200 || statuses(a.result)[syncproto.Applied] != 100 {
		t.Fatalf("first batch: %d %+v", a.status, a.err)
	}
	if a := post(t, r, b1, nil); a.status != 200 || statuses(a.result)[syncproto.Duplicate] != 100 {
		t.Fatalf("replay: %d %v", a.status, statuses(a.result))
	}
	// Out of order: the county refuses to leave a gap and names where it is.
	a := post(t, r, b3, nil)
	if a.status != http.StatusConflict || a.err.Error.Code != syncproto.CodeGap || a.err.Error.HWM != 100 {
		t.Fatalf("reordered batch: %d %+v", a.status, a.err)
	}
	post(t, r, b2, nil)
	if a := post(t, r, b3, nil); a.status != 200 || statuses(a.result)[syncproto.Applied] != 100 {
		t.Fatalf("batch 3 after 2: %d %+v", a.status, a.err)
	}
	// Overlap: 250–349, half already applied.
	a = post(t, r, r.seal(t, all[249:349]), nil)
	if got := statuses(a.result); got[syncproto.Duplicate] != 51 || got[syncproto.Applied] != 49 {
		t.Fatalf("overlap: %v", got)
	}
	if a.result.HWM != 349 {
		t.Fatalf("hwm %d", a.result.HWM)
	}
	if n := len(c.Records(t, records.Person, "")); n != 349 {
		t.Fatalf("county holds %d persons, want 349", n)
	}
	// A duplicate changes nothing: the replayed batch's records keep rev 1.
	recs, _ := c.Store.Records(context.Background(), records.Person, villageA)
	for _, rec := range recs {
		if rec.Rev != 1 {
			t.Fatalf("record %s rev %d after replays", rec.ID, rec.Rev)
		}
	}
}

// Bad input gets a 4xx with a clear Chinese message and changes nothing.
func TestBadPayloadsChangeNothing(t *testing.T) {
	c := testsupport.NewCounty(t)
	r := newRawStation(t, c, villageA)
	other := newRawStation(t, c, villageB)
	g := gen.New(9)
	good := r.seal(t, personChanges(g, villageA, 1, 3))
	_, wrongKey, _ := ed25519.GenerateKey(nil)
	forged := &rawStation{id: r.id, village: villageA, epoch: "e1", key: wrongKey, url: r.url}
	unknown := &rawStation{id: "st_doesnotexist", village: villageA, epoch: "e1", key: wrongKey, url: r.url}
	wrongVillage := &rawStation{id: r.id, village: villageB, epoch: "e1", key: r.key, url: r.url}
	tampered := bytes.Clone(good)
	tampered[len(tampered)/2] ^= 0xff

	cases := []struct {
		name   string
		body   []byte
		header map[string]string
		status int
		code   string
		by     *rawStation // who signs the request; nil: r
	}{
		{"garbage", []byte("hello, county"), nil, 400, syncproto.CodeBadRequest, nil},
		{"empty", nil, nil, 400, syncproto.CodeBadRequest, nil},
		{"truncated", good[:len(good)-10], nil, 400, syncproto.CodeBadRequest, nil},
		{"trailing bytes", append(bytes.Clone(good), 0), nil, 400, syncproto.CodeBadRequest, nil},
		{"oversized", make([]byte, syncproto.MaxEnvelope+8192), nil, 413, syncproto.CodeTooLarge, nil},
		{"tampered body", tampered, nil, 401, syncproto.CodeBadSignature, nil},
		{"wrongly signed", forged.seal(t, personChanges(g, villageA, 1, 2)), nil, 401, syncproto.CodeBadSignature, forged},
		{"signed request, envelope of a wrong key", forged.seal(t, personChanges(g, villageA, 1, 2)), nil, 401, syncproto.CodeBadSignature, nil},
		{"unknown station", unknown.seal(t, personChanges(g, villageA, 1, 2)), nil, 401, syncproto.CodeUnknownStn, unknown},
		{"another station's envelope", other.seal(t, personChanges(g, villageB, 1, 2)), nil, 401, syncproto.CodeBadSignature, nil},
		{"batch claims another village", wrongVillage.seal(t, personChanges(g, villageB, 1, 2)), nil, 403, syncproto.CodeWrongVillage, wrongVillage},
		{"too-new protocol", good, map[string]string{syncproto.HeaderVersion: "9"}, 400, syncproto.CodeVersion, nil},
		{"too-old protocol", good, map[string]string{syncproto.HeaderVersion: "0"}, 400, syncproto.CodeVersion, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := post(t, cmp.Or(tc.by, r), tc.body, tc.header)
			if a.status != tc.status || a.err.Error.Code != tc.code {
				t.Fatalf("got %d %q, want %d %q", a.status, a.err.Error.Code, tc.status, tc.code)
			}
			if !hasHan(a.err.Error.Message) {
				t.Fatalf("message %q is not a Chinese sentence", a.err.Error.Message)
			}
			if tc.code == syncproto.CodeVersion && (!strings.Contains(a.err.Error.Message, strconv.Itoa(syncproto.Version)) || !strings.Contains(a.err.Error.Message, tc.header[syncproto.HeaderVersion])) {
				t.Fatalf("version message %q does not name the versions", a.err.Error.Message)
			}
			if n := len(c.Records(t, records.Person, "")); n != 0 {
				t.Fatalf("county stored %d persons", n)
			}
		})
	}

	// A change to another village's record is refused per change: the rest
	// of the batch goes through.
	if a := post(t, r, good, nil); a.status != 200 {
		t.Fatal(a.err)
	}
	recs, _ := c.Store.Records(context.Background(), records.Person, villageA)
	target := recs[0]
	steal := personChanges(g, villageB, 1, 2)
	steal[0].ID, steal[0].Fields = target.ID, records.Fields{"phone": json.RawMessage(`"13000000000"`)}
	a := post(t, other, other.seal(t, steal), nil)
	if a.status != 200 || a.result.Results[0].Status != syncproto.Rejected || a.result.Results[0].Code != syncproto.CodeWrongVillage || a.result.Results[1].Status != syncproto.Applied {
		t.Fatalf("cross-village change: %d %s", a.status, js(a.result))
	}
	after, _ := c.Store.Records(context.Background(), records.Person, villageA)
	if records.TextValue(after[0].Fields, "phone") != records.TextValue(target.Fields, "phone") || after[0].Rev != target.Rev {
		t.Fatal("another village's station changed a record")
	}

	// Revoked stations are refused from then on.
	if err := c.Store.Revoke(context.Background(), r.id); err != nil {
		t.Fatal(err)
	}
	if a := post(t, r, r.seal(t, personChanges(g, villageA, 4, 1)), nil); a.status != 403 || a.err.Error.Code != syncproto.CodeRevoked {
		t.Fatalf("revoked: %d %+v", a.status, a.err)
	}
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

func TestEnrollmentCodes(t *testing.T) {
	ctx := context.Background()
	c := testsupport.NewCounty(t)
	code := c.Code(t, villageA)
	s1 := openStation(t, t.TempDir(), nil)
	defer s1.Close()
	if _, err := s1.Enroll(ctx, c.HTTP.URL, strings.ToLower(code)); err != nil {
		t.Fatalf("enrol with a lower-case code: %v", err)
	}
	s2 := openStation(t, t.TempDir(), nil)
	defer s2.Close()
	expired, err := c.Store.CreateCode(ctx, villageA, -time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, code, want string }{
		{"reused", code, syncproto.CodeCodeUsed},
		{"expired", expired, syncproto.CodeCodeExpired},
		{"unknown", "AAAAA-BBBBB", syncproto.CodeCodeInvalid},
	} {
		_, err := s2.Enroll(ctx, c.HTTP.URL, tc.code)
		pe, ok := err.(*syncproto.Error)
		if !ok || pe.Code != tc.want || !hasHan(pe.Message) {
			t.Errorf("%s: %v", tc.name, err)
		}
		if s2.Enrolled(ctx) {
			t.Fatalf("%s: station counts itself enrolled", tc.name)
		}
	}
	st, _ := c.Store.Stations(ctx)
	if len(st) != 1 {
		t.Fatalf("%d stations enrolled, want 1", len(st))
	}
	if _, err := c.Store.CreateCode(ctx, "110101001001", time.Hour); err == nil {
		t.Fatal("code made for a village of another county")
	}
	_ = fmt.Sprint
}

// An enrolment whose answer was lost is asked again with the same key:
// the county answers with the same identity instead of "code used".
func TestEnrollmentAnswerLostRetrySameKey(t *testing.T) {
	ctx := context.Background()
	c := testsupport.NewCounty(t)
	code := c.Code(t, villageA)
	_, priv, _ := ed25519.GenerateKey(nil)
	pub := priv.Public().(ed25519.PublicKey)
	first, err := c.Store.Enroll(ctx, code, pub, "pc", "v")
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.Store.Enroll(ctx, code, pub, "pc", "v")
	if err != nil || again.ID != first.ID {
		t.Fatalf("retry with the same key: %v, %+v", err, again)
	}
	_, other, _ := ed25519.GenerateKey(nil)
	if _, err := c.Store.Enroll(ctx, code, other.Public().(ed25519.PublicKey), "pc2", "v"); err == nil {
		t.Fatal("a second key enrolled with a used code")
	}
}
