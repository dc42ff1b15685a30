package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"stationsync/internal/gen"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
	"stationsync/syncproto"
)

// A station upgraded before its county: the county, one protocol version
// older, refuses the new version, and the station goes on in the county's
// version (JSON batches) without losing or doubling anything.
func TestNewStationOlderCounty(t *testing.T) {
	c := testsupport.NewCounty(t)
	real := c.Handler()
	var refused, spokeOld atomic.Int32
	older := http.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := r.Header.Get(syncproto.HeaderVersion)
		if r.URL.Path == "/v1/enroll" {
			body, _ := io.ReadAll(r.Body)
			var req struct {
				V int `json:"v"`
			}
			json.Unmarshal(body, &req)
			v = map[bool]string{true: "1", false: "other"}[req.V == 1]
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		if v != "1" {
			// What a county of version 1 answers (server.writeVersionError).
			refused.Add(1)
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
				"code": syncproto.CodeVersion, "message": "客户端协议版本 2 比县级服务器（版本 1）新，请联系县里升级服务器", "server_version": 1}})
			return
		}
		if r.URL.Path == "/v1/push" {
			body, _ := io.ReadAll(r.Body)
			if e, _, err := syncproto.ParseEnvelope(body); err != nil || e.Header.Version != 1 || e.Header.Encoding != syncproto.EncodingJSON {
				t.Errorf("a push in version 1 carries an envelope of version %d, %q (%v)", e.Header.Version, e.Header.Encoding, err)
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			spokeOld.Add(1)
		}
		real.ServeHTTP(w, r)
	}))
	c.SetHandler(older)

	g := gen.New(21)
	s := newStation(t, c, villageA, nil)
	persons, visits := s.AddPeople(t, g, villageA, 30)
	if res := s.MustSync(t); res.Pushed != len(persons)+len(visits) {
		t.Fatalf("pushed %d, want %d", res.Pushed, len(persons)+len(visits))
	}
	testsupport.AssertConverged(t, c, s, villageA)
	if refused.Load() == 0 || spokeOld.Load() == 0 {
		t.Fatalf("refused %d requests, %d pushes in version 1", refused.Load(), spokeOld.Load())
	}

	// The county is upgraded: it answers both versions.
	c.SetHandler(real)
	s.MustSave(t, records.Person, persons[0], testsupport.Fields(map[string]any{"phone": "13905510000"}))
	s.MustSync(t)
	testsupport.AssertConverged(t, c, s, villageA)
}

// The county's revision of each record comes back with the answer (and
// with the pull) and is kept by the station: its next edit says which revision it was based on,
// and a record changed twice in one batch keeps the higher one.
func TestAckKeepsCountyRevisions(t *testing.T) {
	c := testsupport.NewCounty(t)
	s := newStation(t, c, villageA, nil)
	g := gen.New(5)
	persons, visits := s.AddPeople(t, g, villageA, 3)
	s.MustSave(t, records.Person, persons[1], testsupport.Fields(map[string]any{"phone": "13905510001"}))
	s.MustSave(t, records.Person, persons[1], testsupport.Fields(map[string]any{"phone": "13905510002"}))
	s.MustSync(t)
	rev := func(table, id string) int64 {
		t.Helper()
		kind := map[string]records.Kind{"persons": records.Person, "visits": records.Visit}[table]
		l, err := s.Store.Get(context.Background(), kind, id)
		if err != nil {
			t.Fatal(err)
		}
		return l.ServerRev
	}
	if r := rev("persons", persons[0]); r != 1 {
		t.Fatalf("person saved once has server_rev %d, want 1", r)
	}
	if r := rev("persons", persons[1]); r != 3 {
		t.Fatalf("person saved three times in one batch has server_rev %d, want 3", r)
	}
	if r := rev("visits", visits[0]); r != 1 {
		t.Fatalf("visit has server_rev %d, want 1", r)
	}

	// A record the county changed comes back with the pull, and its
	// revision with it; a local edit after that leaves the revision alone.
	if err := c.Store.CountyEdit(context.Background(), records.Person, persons[0], testsupport.Fields(map[string]any{"phone": "13905510009"}), "县民政局"); err != nil {
		t.Fatal(err)
	}
	s.MustSync(t)
	if r := rev("persons", persons[0]); r != 2 {
		t.Fatalf("person the county edited has server_rev %d after the pull, want 2", r)
	}
	s.MustSave(t, records.Person, persons[0], testsupport.Fields(map[string]any{"address": "村东头"}))
	if r := rev("persons", persons[0]); r != 2 {
		t.Fatalf("person edited at the station has server_rev %d before its sync, want 2", r)
	}
}
