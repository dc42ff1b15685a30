//go:build examples

// This file runs the real county server and a real client to produce the
// examples of PROTOCOL.md and, with -write-golden, the fixtures of a new
// testdata/vN folder. It is behind a build tag so that the ordinary tests of
// syncproto do not depend on the server package:
//
//	go test -tags examples -run TestGenerateExamples ./syncproto/ -args -examples-out /tmp/examples.md
//	go test -tags examples -run TestGenerateExamples ./syncproto/ -args -write-golden testdata/v2
//
// Never rewrite testdata/v1: it is what agents already in the field send
// and expect.
package syncproto_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"stationsync/internal/hlc"
	"stationsync/internal/idcard"
	"stationsync/internal/records"
	"stationsync/server"
	"stationsync/syncproto"
)

var (
	examplesOut = flag.String("examples-out", "", "write the markdown examples to this file")
	writeGolden = flag.String("write-golden", "", "write the golden fixtures into this (new) folder")
)

// exchange is one HTTP request and its answer, as they crossed the wire.
type exchange struct {
	method, uri string
	reqHeader   http.Header
	reqBody     []byte
	status      int
	respHeader  http.Header
	respBody    []byte // decompressed when the answer was zstd JSON
	respWire    int    // bytes on the wire
}

type recorder struct {
	base http.RoundTripper
	log  []exchange
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	x := exchange{method: req.Method, uri: req.URL.RequestURI(), reqHeader: req.Header.Clone(), reqBody: body,
		status: resp.StatusCode, respHeader: resp.Header.Clone(), respBody: raw, respWire: len(raw)}
	if resp.Header.Get("Content-Type") == syncproto.ContentZJSON {
		x.respBody, err = syncproto.Decompress(raw, syncproto.MaxBatchJSON)
		if err != nil {
			return nil, err
		}
	}
	r.log = append(r.log, x)
	return resp, nil
}

func (r *recorder) last() exchange { return r.log[len(r.log)-1] }

func TestGenerateExamples(t *testing.T) {
	ctx := context.Background()
	const village = "340123101201"
	store, err := server.OpenSQLite(ctx, filepath.Join(t.TempDir(), "county.db"), village[:6])
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	srv := server.New(store, slog.New(slog.DiscardHandler))
	ts := httptest.NewServer(srv.NewHandler())
	defer ts.Close()

	code, err := store.CreateCode(ctx, village, 7*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key := syncproto.FixtureKey()
	pub := key.Public().(ed25519.PublicKey)
	c := syncproto.NewClient(ts.URL)
	c.Logger = slog.New(slog.DiscardHandler)
	rec := &recorder{base: c.HTTP.Transport}
	c.HTTP.Transport = rec
	clock := hlc.NewClock(time.Now, 0, 0)
	c.Now = clock.Physical

	var md strings.Builder
	section := func(title string) { fmt.Fprintf(&md, "\n#### %s\n\n", title) }
	golden := map[string][]byte{}

	// Enrollment.
	er, err := c.Enroll(ctx, syncproto.EnrollRequest{Code: strings.ToLower(code), PublicKey: pub, Hostname: "CUN-PC01", AgentVersion: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	x := rec.last()
	section("Enrolment")
	writeHTTP(&md, x, false)
	golden["enroll_request.golden"] = x.reqBody
	golden["enroll_response.golden"] = x.respBody
	c.Station, c.Key = er.StationID, key

	// The station's outbox: seq 1 makes a person; seq 2 edits a field both
	// sides may change, based on the version seq 1 gave it; seq 3 makes an
	// application; seq 4 submits it.
	epoch := strings.ReplaceAll(uuid.New().String(), "-", "")[:16]
	personID, appID := uuid.Must(uuid.NewV7()).String(), uuid.Must(uuid.NewV7()).String()
	h1 := clock.Now()
	at := func(h hlc.Timestamp) int64 { return h.WallMs() }
	person := records.Fields{
		"name":       records.JSONText("王秀英"),
		"id_number":  records.JSONText(idcard.Generate("340123", time.Date(1948, 3, 12, 0, 0, 0, 0, time.UTC), 242)),
		"categories": json.RawMessage(`["农村留守老年人","空巢老人"]`),
		"phone":      records.JSONText("13905510123"),
		"address":    records.JSONText("岗集镇陶楼村后郢组12号"),
		"status":     records.JSONText("在册"),
	}
	batch := func(pending int, cs ...syncproto.Change) *syncproto.Batch {
		return &syncproto.Batch{Version: syncproto.Version, Station: er.StationID, Epoch: epoch, Village: er.Village,
			SentHLC: uint64(clock.Now()), Pending: pending, AgentVersion: "1.0.0", Changes: cs}
	}
	push := func(b *syncproto.Batch) *syncproto.PushResult {
		env, err := syncproto.SealBatch(b, key, syncproto.Best)
		if err != nil {
			t.Fatal(err)
		}
		pr, err := c.Push(ctx, env)
		if err != nil {
			t.Fatal(err)
		}
		return pr
	}
	pr1 := push(batch(4, syncproto.Change{Seq: 1, HLC: uint64(h1), Kind: "person", ID: personID, Op: "upsert", Fields: person, By: "李明", At: at(h1)}))
	h2, h3 := clock.Now(), clock.Now()
	b2 := batch(3,
		syncproto.Change{Seq: 2, HLC: uint64(h2), Kind: "person", ID: personID, Op: "upsert",
			Fields: records.Fields{"phone": records.JSONText("13905510456"), "health": records.JSONText("高血压，行动不便")},
			Base:   map[string]uint64{"phone": uint64(h1)}, Rev: pr1.Results[0].Rev, By: "李明", At: at(h2)},
		syncproto.Change{Seq: 3, HLC: uint64(h3), Kind: "application", ID: appID, Op: "upsert", Fields: records.Fields{
			"applicant_id":         records.JSONText(personID),
			"type":                 records.JSONText("最低生活保障"),
			"members":              json.RawMessage(`[{"name":"王秀英","relation":"本人"}]`),
			"household_income_fen": json.RawMessage(`42000`),
			"reason":               records.JSONText("独居，无固定收入，患慢性病需长期服药"),
		}, By: "李明", At: at(h3)},
	)
	env, err := syncproto.SealBatch(b2, key, syncproto.Best)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Push(ctx, env); err != nil {
		t.Fatal(err)
	}
	x = rec.last()
	raw, _ := json.Marshal(b2)
	if _, _, err := syncproto.ParseEnvelope(env); err != nil {
		t.Fatal(err)
	}
	hl := int(env[4])<<8 | int(env[5])
	section("Push")
	writeHTTP(&md, x, true)
	fmt.Fprintf(&md, "\nEnvelope: %d bytes (header %d, body %d, signature 64); the batch as JSON is %d bytes.\n\n```\n%s```\n",
		len(env), hl, len(env)-10-hl-64, len(raw), hex.Dump(env[:min(len(env), 10+hl+16)]))
	fmt.Fprintf(&md, "\nHeader:\n\n```json\n%s\n```\n\nBatch:\n\n```json\n%s\n```\n", indent(env[6:6+hl]), indent(raw))
	golden["envelope.golden"] = env
	golden["envelope_header.golden"] = env[6 : 6+hl]
	golden["batch.golden"] = raw
	golden["push_result.golden"] = x.respBody

	// Submit, and the county accepts.
	h4 := clock.Now()
	push(batch(1, syncproto.Change{Seq: 4, HLC: uint64(h4), Kind: "application", ID: appID, Op: "submit",
		Fields: records.Fields{"comment": records.JSONText("材料已齐")}, Rev: 1, By: "李明", At: at(h4)}))
	section("Intent change (seq 4, pushed in a batch of its own)")
	fmt.Fprintf(&md, "```json\n%s\n```\n", indent(must(json.Marshal(syncproto.Change{Seq: 4, HLC: uint64(h4), Kind: "application", ID: appID, Op: "submit",
		Fields: records.Fields{"comment": records.JSONText("材料已齐")}, Rev: 1, By: "李明", At: at(h4)}))))
	if err := store.Decide(ctx, server.Decision{ApplicationID: appID, Op: records.OpAccept, By: "县民政局 张华", Comment: "已受理，安排入户核查"}); err != nil {
		t.Fatal(err)
	}

	// Pull.
	if _, err := c.Pull(ctx, 0, "", 500, 0, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	x = rec.last()
	section("Pull")
	writeHTTP(&md, x, true)
	golden["pull_request.golden"] = []byte(x.method + " " + x.uri + "\nAuthorization: " + x.reqHeader.Get("Authorization") + "\n")
	golden["pull_page.golden"] = x.respBody

	// Errors: a gap, a clock that is an hour slow, a newer agent.
	gap := batch(0, syncproto.Change{Seq: 10, HLC: uint64(clock.Now()), Kind: "person", ID: personID, Op: "upsert",
		Fields: records.Fields{"health": records.JSONText("好转")}, By: "李明"})
	genv, _ := syncproto.SealBatch(gap, key, syncproto.Best)
	_, err = c.Push(ctx, genv)
	if !strings.Contains(fmt.Sprint(err), "409 gap") {
		t.Fatalf("gap: %v", err)
	}
	x = rec.last()
	section("Error: gap")
	writeHTTP(&md, x, true)
	golden["error.golden"] = x.respBody

	c.Now = func() time.Time { return time.Now().Add(-time.Hour) }
	_, err = c.Pull(ctx, 0, "", 500, 0, "1.0.0")
	if !strings.Contains(fmt.Sprint(err), "401 clock_skew") {
		t.Fatalf("skew: %v", err)
	}
	x = rec.last()
	section("Error: clock_skew")
	writeHTTP(&md, x, false)

	req, _ := http.NewRequest("POST", ts.URL+"/v1/push", bytes.NewReader(env))
	req.Header.Set(syncproto.HeaderVersion, strconv.Itoa(syncproto.Version+1))
	resp, err := rec.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	section("Error: version_unsupported")
	writeHTTP(&md, rec.last(), true)

	if *examplesOut != "" {
		if err := os.WriteFile(*examplesOut, []byte(md.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if *writeGolden != "" {
		if _, err := os.Stat(*writeGolden); err == nil {
			t.Fatalf("%s exists: fixtures of a released version are never rewritten; name a new folder", *writeGolden)
		}
		if err := os.MkdirAll(*writeGolden, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range golden {
			if err := os.WriteFile(filepath.Join(*writeGolden, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func indent(raw []byte) string {
	var b bytes.Buffer
	if err := json.Indent(&b, bytes.TrimSpace(raw), "", "  "); err != nil {
		return string(raw)
	}
	return b.String()
}

var shownRequest = []string{"Content-Type", "Content-Length", syncproto.HeaderVersion, "Authorization"}
var shownResponse = []string{"Content-Type", "Content-Length", syncproto.HeaderServerTime, "Retry-After"}

func writeHTTP(w io.Writer, x exchange, binaryReq bool) {
	fmt.Fprintf(w, "```http\n%s %s HTTP/1.1\n", x.method, x.uri)
	for _, h := range shownRequest {
		if v := x.reqHeader.Get(h); v != "" {
			fmt.Fprintf(w, "%s: %s\n", h, v)
		}
	}
	if len(x.reqBody) > 0 {
		if binaryReq {
			fmt.Fprintf(w, "\n<%d bytes: envelope>\n", len(x.reqBody))
		} else {
			fmt.Fprintf(w, "\n%s\n", indent(x.reqBody))
		}
	}
	fmt.Fprintf(w, "```\n\n```http\nHTTP/1.1 %d %s\n", x.status, http.StatusText(x.status))
	for _, h := range shownResponse {
		if v := x.respHeader.Get(h); v != "" {
			fmt.Fprintf(w, "%s: %s\n", h, v)
		}
	}
	if x.respHeader.Get("Content-Type") == syncproto.ContentZJSON {
		fmt.Fprintf(w, "\n<%d bytes of zstd; decompressed:>\n%s\n```\n", x.respWire, indent(x.respBody))
		return
	}
	fmt.Fprintf(w, "\n%s\n```\n", indent(x.respBody))
}
