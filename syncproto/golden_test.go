package syncproto

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The fixtures in testdata/v1 are messages of protocol version 1 as the
// county server and a client really exchanged them (they were made by
// examples_gen_test.go). Agents in the field keep sending and expecting
// exactly these bytes for years, so these tests fail when a change to the
// types or the codec would break them. Never edit or regenerate v1: a new
// protocol version gets a new folder, and v1 must still decode.

func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	return readGoldenOf(t, "v1", name)
}

func readGoldenOf(t *testing.T, version, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", version, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeStrict decodes a golden JSON message into v, refusing unknown
// fields (a field this version no longer knows) and trailing data, then
// checks that v encodes back to the same bytes (a renamed, retyped or newly
// required field). newline says the server writes it with json.Encoder.
func decodeStrict(t *testing.T, name string, v any, newline bool) {
	t.Helper()
	raw := readGolden(t, name)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("%s: trailing data", name)
	}
	var out bytes.Buffer
	if newline {
		enc := json.NewEncoder(&out)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
	} else {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(b)
	}
	if !bytes.Equal(out.Bytes(), raw) {
		t.Fatalf("%s no longer encodes the same:\n got %s\nwant %s", name, out.Bytes(), raw)
	}
}

const (
	goldenStation = "st_ca4967ce4f0b5dc4"
	goldenEpoch   = "ae23d6886d9d4cf2"
	goldenPerson  = "01a21514-a090-7488-9e64-b1b9e08e283b"
	goldenApp     = "01a21514-a090-7489-824e-cacdba47d38e"
)

func TestGoldenEnroll(t *testing.T) {
	var req EnrollRequest
	decodeStrict(t, "enroll_request.golden", &req, false)
	if req.Version != 1 || req.Code != "egvtg-7y8vz" || !bytes.Equal(req.PublicKey, fixturePub()) || req.Hostname != "CUN-PC01" || req.AgentVersion != "1.0.0" {
		t.Fatalf("enrol request %+v", req)
	}
	var resp EnrollResponse
	decodeStrict(t, "enroll_response.golden", &resp, true)
	if resp != (EnrollResponse{Version: 1, StationID: goldenStation, Village: "340123101201", County: "340123", ServerTime: 1795650003088}) {
		t.Fatalf("enrol response %+v", resp)
	}
}

func TestGoldenEnvelope(t *testing.T) {
	env := readGolden(t, "envelope.golden")
	hdr := readGolden(t, "envelope_header.golden")
	e, n, err := ParseEnvelope(env)
	if err != nil || n != len(env) {
		t.Fatalf("ParseEnvelope: %v (%d of %d bytes)", err, n, len(env))
	}
	want := EnvelopeHeader{Version: 1, Station: goldenStation, Epoch: goldenEpoch, First: 2, Last: 3, Count: 2, Encoding: "zstd"}
	if e.Header != want {
		t.Fatalf("header %+v", e.Header)
	}
	if !bytes.Equal(env[:4], []byte("SSB1")) || int(env[4])<<8|int(env[5]) != len(hdr) || !bytes.Equal(env[6:6+len(hdr)], hdr) {
		t.Fatalf("frame does not hold envelope_header.golden")
	}
	var h EnvelopeHeader
	decodeStrict(t, "envelope_header.golden", &h, false)
	if h != want {
		t.Fatalf("envelope_header.golden: %+v", h)
	}
	b, err := e.Open(fixturePub())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	raw, _ := json.Marshal(b)
	if !bytes.Equal(raw, readGolden(t, "batch.golden")) {
		t.Fatalf("envelope.golden does not hold batch.golden:\n%s", raw)
	}
}

func TestGoldenBatch(t *testing.T) {
	raw := readGolden(t, "batch.golden")
	b, err := DecodeBatch(raw)
	if err != nil {
		t.Fatal(err)
	}
	var strict Batch
	decodeStrict(t, "batch.golden", &strict, false)
	if !reflect.DeepEqual(b, &strict) {
		t.Fatal("DecodeBatch and a plain decode disagree")
	}
	if b.Version != 1 || b.Station != goldenStation || b.Epoch != goldenEpoch || b.Village != "340123101201" ||
		b.SentHLC != 117679718602768386 || b.Pending != 3 || b.AgentVersion != "1.0.0" || len(b.Changes) != 2 {
		t.Fatalf("batch %+v", b)
	}
	p, a := b.Changes[0], b.Changes[1]
	if p.Seq != 2 || p.HLC != 117679718602768384 || p.Kind != "person" || p.ID != goldenPerson || p.Op != "upsert" ||
		string(p.Fields["phone"]) != `"13905510456"` || string(p.Fields["health"]) != `"高血压，行动不便"` ||
		!reflect.DeepEqual(p.Base, map[string]uint64{"phone": 117679718602375168}) || p.Rev != 1 || p.By != "李明" || p.At != 1795650003094 {
		t.Fatalf("change 2 %+v", p)
	}
	if a.Seq != 3 || a.Kind != "application" || a.ID != goldenApp || a.Op != "upsert" || a.Base != nil || a.Rev != 0 ||
		string(a.Fields["applicant_id"]) != `"`+goldenPerson+`"` || string(a.Fields["household_income_fen"]) != `42000` ||
		string(a.Fields["members"]) != `[{"name":"王秀英","relation":"本人"}]` || len(a.Fields) != 5 {
		t.Fatalf("change 3 %+v", a)
	}
}

// testdata/v2 holds the batch of v1's batch.golden as version 2 seals it:
// envelope.golden, whose body is zstd of batch.columns.golden. Decoding
// must give the same batch, and encoding that batch the same columns.
func TestGoldenColumnsV2(t *testing.T) {
	want, err := DecodeBatch(readGolden(t, "batch.golden"))
	if err != nil {
		t.Fatal(err)
	}
	want.Version = 2
	env := readGoldenOf(t, "v2", "envelope.golden")
	cols := readGoldenOf(t, "v2", "batch.columns.golden")
	e, n, err := ParseEnvelope(env)
	if err != nil || n != len(env) {
		t.Fatalf("ParseEnvelope: %v (%d of %d bytes)", err, n, len(env))
	}
	if h := e.Header; h != (EnvelopeHeader{Version: 2, Station: goldenStation, Epoch: goldenEpoch, First: 2, Last: 3, Count: 2, Encoding: EncodingColumns}) {
		t.Fatalf("header %+v", h)
	}
	if body, err := Decompress(e.body, MaxBatchJSON); err != nil || !bytes.Equal(body, cols) {
		t.Fatalf("envelope.golden does not hold batch.columns.golden (%v)", err)
	}
	got, err := e.Open(fixturePub())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("v2 envelope holds %+v, want %+v", got, want)
	}
	if raw, err := encodeColumns(want); err != nil || !bytes.Equal(raw, cols) {
		t.Fatalf("the batch no longer encodes to batch.columns.golden (%v):\n%s", err, hex.Dump(raw))
	}
}

func TestGoldenPushResult(t *testing.T) {
	var r PushResult
	decodeStrict(t, "push_result.golden", &r, false)
	want := PushResult{Version: 1, ServerTime: 1795650003096, ServerHLC: 117679718602964992, Epoch: goldenEpoch, HWM: 3,
		Results: []ChangeResult{{Seq: 2, Status: Applied, Rev: 2, Clean: true}, {Seq: 3, Status: Applied, Rev: 1, Clean: true}}}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("push result %+v", r)
	}
}

func TestGoldenPullRequest(t *testing.T) {
	lines := strings.Split(strings.TrimSuffix(string(readGolden(t, "pull_request.golden")), "\n"), "\n")
	method, uri, _ := strings.Cut(lines[0], " ")
	auth, ok := strings.CutPrefix(lines[1], "Authorization: ")
	if len(lines) != 2 || !ok || method != "GET" {
		t.Fatalf("pull_request.golden: %q", lines)
	}
	a, err := ParseAuth(auth)
	if err != nil {
		t.Fatal(err)
	}
	if a.Station != goldenStation || a.At.UnixMilli() != 1795650003101 || !a.Verify(fixturePub(), method, uri, nil) {
		t.Fatalf("signature of %s %s does not verify: %+v", method, uri, a)
	}
	if uri != "/v1/pull?after=0&agent=1.0.0&feed=&limit=500&pending=0" {
		t.Fatalf("uri %s", uri)
	}
}

func TestGoldenPullPage(t *testing.T) {
	var p PullPage
	decodeStrict(t, "pull_page.golden", &p, false)
	if p.Version != 1 || p.FeedEpoch != "e33da82cc7d8806d" || !p.Reset || p.Next != 5 || p.More || len(p.Records) != 1 {
		t.Fatalf("page %+v", p)
	}
	r := p.Records[0]
	if r.Kind != "application" || r.ID != goldenApp || r.Village != "340123101201" || r.Rev != 3 ||
		string(r.Fields["status"]) != `"accepted"` || r.Versions["status"] != 117679718603161600 || r.Versions["reason"] != 117679718602768385 ||
		r.CreatedBy != "李明" || r.UpdatedBy != "县民政局 张华" || len(r.Conflicts) != 0 || len(r.History) != 2 {
		t.Fatalf("record %+v", r)
	}
	want := []HistoryEntry{
		{ID: goldenStation + "." + goldenEpoch + ".4", From: "draft", To: "submitted", Op: "submit", By: "李明", Origin: goldenStation, HLC: 117679718603030528, At: 1795650003098, Comment: "材料已齐"},
		{ID: "county.06d90b7fa831437a", From: "submitted", To: "accepted", Op: "accept", By: "县民政局 张华", Origin: "county", HLC: 117679718603161600, At: 1795650003100, Comment: "已受理，安排入户核查"},
	}
	if !reflect.DeepEqual(r.History, want) {
		t.Fatalf("history %+v", r.History)
	}
}

func TestGoldenError(t *testing.T) {
	var eb ErrorBody
	decodeStrict(t, "error.golden", &eb, true)
	if eb.Error.Code != CodeGap || eb.Error.HWM != 4 || eb.Error.Message != "数据包顺序不连续，将从断点重新发送" || eb.Error.Server != 0 {
		t.Fatalf("error %+v", eb)
	}
}

// PROTOCOL.md shows the v1 fixtures; this keeps it from drifting from them.
func TestProtocolDocShowsGoldens(t *testing.T) {
	doc, err := os.ReadFile("PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	must := func(what, s string) {
		t.Helper()
		if !bytes.Contains(doc, []byte(s)) {
			t.Errorf("PROTOCOL.md does not show %s:\n%s", what, s)
		}
	}
	for _, name := range []string{"enroll_request", "enroll_response", "envelope_header", "batch", "push_result", "pull_page", "error"} {
		var b bytes.Buffer
		if err := json.Indent(&b, bytes.TrimSpace(readGolden(t, name+".golden")), "", "  "); err != nil {
			t.Fatal(err)
		}
		must(name+".golden", b.String())
	}
	pr := strings.Split(string(readGolden(t, "pull_request.golden")), "\n")
	must("the pull request line", pr[0]+" HTTP/1.1")
	must("the pull request's Authorization", pr[1])
	a, err := ParseAuth(strings.TrimPrefix(pr[1], "Authorization: "))
	if err != nil {
		t.Fatal(err)
	}
	must("the pull request's signing string", string(signingString("GET", strings.TrimPrefix(pr[0], "GET "), a.ts, nil)))
	env := readGolden(t, "envelope.golden")
	hl := int(env[4])<<8 | int(env[5])
	must("the hex dump of envelope.golden", hex.Dump(env[:10+hl+16]))
	must("the hex dump of v2/batch.columns.golden", hex.Dump(readGoldenOf(t, "v2", "batch.columns.golden")))
}
