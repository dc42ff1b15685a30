package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// With --log-format json every line of the file and the console is one
// JSON object, and a line logged with a request's context names the
// request; lines without one do not invent it.
func TestJSONLinesCarryTheRequestID(t *testing.T) {
	var console bytes.Buffer
	log, c, err := New(Options{File: filepath.Join(t.TempDir(), "x.log"), Console: &console, Format: FormatJSON})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := WithRequestID(context.Background(), "req-1")
	log.With("subsystem", "http").InfoContext(ctx, "push applied", "changes", 3)
	log.Info("no request")
	lines := strings.Split(strings.TrimSpace(console.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %q", len(lines), console.String())
	}
	var first, second map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatalf("not JSON: %q: %v", lines[0], err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatalf("not JSON: %q: %v", lines[1], err)
	}
	if first[KeyRequestID] != "req-1" || first["msg"] != "push applied" || first["subsystem"] != "http" || first["changes"] != 3.0 {
		t.Errorf("first line: %v", first)
	}
	if _, ok := second[KeyRequestID]; ok {
		t.Errorf("a line without a request names one: %v", second)
	}
}

func TestTextIsTheDefaultFormat(t *testing.T) {
	var console bytes.Buffer
	log, c, err := New(Options{Console: &console})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	log.InfoContext(WithRequestID(context.Background(), "abc"), "hello")
	if got := console.String(); !strings.Contains(got, "msg=hello") || !strings.Contains(got, "request_id=abc") {
		t.Errorf("text line: %q", got)
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"": FormatText, "text": FormatText, " JSON ": FormatJSON} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseFormat("logfmt"); err == nil {
		t.Error("logfmt accepted")
	}
}

// Only ids of plain characters are kept; every other spelling an outside
// caller can send — a forged line, markup, a name, a phone number with
// spaces, a huge header — is refused (and the caller gets a new id).
func TestSaneRequestID(t *testing.T) {
	for _, id := range []string{"a", "0f3c9a1b2c3d4e5f", "lb-7f:12.3_x", strings.Repeat("a", 64)} {
		if !SaneRequestID(id) {
			t.Errorf("%q refused", id)
		}
	}
	for _, id := range []string{"", strings.Repeat("a", 65), "a\nlevel=ERROR msg=forged", "a b", "<script>", "王秀英", "131 7509 4058",
		"a\x00", "a\r", "a\"b", "a=b", "ａ", "a/b", "%0a"} {
		if SaneRequestID(id) {
			t.Errorf("%q kept", id)
		}
	}
	a, b := NewRequestID(), NewRequestID()
	if a == b || !SaneRequestID(a) || len(a) != 16 || strings.Trim(a, "abcdefghijklmnopqrstuvwxyz") != "" {
		t.Errorf("new ids %q %q", a, b)
	}
}

func FuzzSaneRequestID(f *testing.F) {
	for _, s := range []string{"abc", "a\nb", "王", "x-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if !SaneRequestID(id) {
			return
		}
		// A kept id can neither break a text line nor a JSON string.
		if strings.ContainsAny(id, " \t\r\n\"\\=<>") || len(id) > 64 {
			t.Fatalf("kept %q", id)
		}
	})
}

// The time of a JSON line is to the millisecond, as a text line's: no
// run of digits in a line the server writes itself reads as a number.
func TestJSONTimeToTheMillisecond(t *testing.T) {
	var console bytes.Buffer
	log, c, err := New(Options{Console: &console, Format: FormatJSON})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	log.Info("x")
	var rec map[string]any
	if err := json.Unmarshal(console.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	ts, _ := rec["time"].(string)
	if _, err := time.Parse("2006-01-02T15:04:05.000Z07:00", ts); err != nil || len(ts) > len("2006-01-02T15:04:05.000+08:00") {
		t.Errorf("time %q: %v", ts, err)
	}
}
