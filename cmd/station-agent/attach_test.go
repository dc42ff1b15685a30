package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"stationsync/internal/gen"
)

// `station-agent attach` keeps files as the pages do, prints hash, size
// and type of each, and refuses in Chinese with a non-zero exit, keeping
// nothing, a record it cannot attach to, a file of the wrong type and one
// too big.
func TestAttachCommand(t *testing.T) {
	dir := t.TempDir()
	run := func(in any, args ...string) (int, string, string) {
		b, _ := json.Marshal(in)
		var out, errb bytes.Buffer
		code := Main(context.Background(), append(args[:1:1], append([]string{"--data", dir}, args[1:]...)...), bytes.NewReader(b), &out, &errb)
		return code, strings.TrimSpace(out.String()), errb.String()
	}
	g := gen.New(3)
	code, pid, stderr := run(g.Person("340123101201"), "add", "--kind", "person", "--by", "李明")
	if code != 0 {
		t.Fatalf("add person: %d %s", code, stderr)
	}
	visit := map[string]any{"person_id": pid, "visited_on": time.Now().Format(time.DateOnly), "visitors": []string{"李明"}, "method": "入户走访", "risk": "正常", "situation": "老人在家，身体尚可。"}
	code, vid, stderr := run(visit, "add", "--kind", "visit", "--by", "李明")
	if code != 0 {
		t.Fatalf("add visit: %d %s", code, stderr)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var jb bytes.Buffer
	jpeg.Encode(&jb, image.NewRGBA(image.Rect(0, 0, 2000, 1000)), nil)
	jpg := write("IMG_0001.JPG", jb.Bytes())
	pdf := write("户口簿.pdf", []byte("%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n"))

	code, out, stderr := run(nil, "attach", "--record", vid, jpg, pdf)
	if code != 0 {
		t.Fatalf("attach: %d %s", code, stderr)
	}
	line := regexp.MustCompile(`(?m)^[0-9a-f]{64}\t\d+\t(image/jpeg|application/pdf)\t`)
	if n := len(line.FindAllString(out, -1)); n != 2 {
		t.Fatalf("attach printed %q, want a line per file", out)
	}
	files := func() int {
		_, list, _ := run(nil, "list", "--kind", "visit")
		var vs []map[string]any
		json.Unmarshal([]byte(list), &vs)
		for _, v := range vs {
			if v["id"] == vid {
				if ph, ok := v["photos"].([]any); ok {
					return len(ph)
				}
				if f, ok := v["fields"].(map[string]any); ok {
					ph, _ := f["photos"].([]any)
					return len(ph)
				}
			}
		}
		t.Fatalf("visit %s not listed: %s", vid, list)
		return 0
	}
	if n := files(); n != 2 {
		t.Fatalf("visit has %d files", n)
	}

	gif := write("动图.gif", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"))
	big := write("大.pdf", append(append([]byte("%PDF-1.4\n"), make([]byte, 21<<20)...), "\n%%EOF\n"...))
	for _, tc := range []struct {
		name string
		args []string
		msg  string
	}{
		{"unknown record", []string{"attach", "--record", "00000000-0000-4000-8000-000000000000", jpg}, "找不到记录"},
		{"a person", []string{"attach", "--record", pid, jpg}, "找不到记录"},
		{"wrong type", []string{"attach", "--record", vid, jpg, gif}, "不支持 GIF 图片"},
		{"too big", []string{"attach", "--record", vid, big}, "文件太大"},
		{"missing file", []string{"attach", "--record", vid, filepath.Join(dir, "nope.jpg")}, "无法打开文件"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := run(nil, tc.args...)
			if code == 0 || !strings.Contains(stderr, tc.msg) || out != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want refusal with %q", code, out, stderr, tc.msg)
			}
			if n := files(); n != 2 {
				t.Errorf("visit has %d files after a refusal", n)
			}
		})
	}
	if code, _, _ := run(nil, "attach", jpg); code != 2 {
		t.Errorf("no --record: exit %d, want 2", code)
	}
}
