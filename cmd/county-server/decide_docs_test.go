package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stationsync/internal/gen"
	"stationsync/internal/hlc"
	"stationsync/internal/records"
	"stationsync/server"
	"stationsync/syncproto"
)

// county-server decide --file: the documents go with the decision, named
// by the application and kept in the county's files; a bad one is
// refused in Chinese (exit 1) and nothing is decided.
func TestDecideWithFile(t *testing.T) {
	ctx := context.Background()
	const village = "340123101202"
	st, stn, dir := countyWithStation(t, village)
	g := gen.New(5)
	p := g.Person(village)
	h := hlc.FromTime(time.Now().Add(-time.Hour))
	var changes []syncproto.Change
	for i, c := range []struct {
		kind, id string
		op       records.Op
		f        map[string]any
	}{
		{"person", "0123456789abcdef", records.OpUpsert, p},
		{"application", "a1", records.OpUpsert, g.Application("0123456789abcdef", p)},
		{"application", "a1", records.OpSubmit, nil},
		{"application", "a2", records.OpUpsert, g.Application("0123456789abcdef", p)},
		{"application", "a2", records.OpSubmit, nil},
	} {
		h++
		changes = append(changes, syncproto.Change{Seq: uint64(i + 1), HLC: uint64(h), Kind: c.kind, ID: c.id, Op: string(c.op), Fields: fieldsOf(c.f), By: "李明"})
	}
	if _, err := st.Push(ctx, stn, &syncproto.Batch{Version: syncproto.Version, Station: stn.ID, Epoch: "e1", Village: village, Changes: changes}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	pdf := []byte("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
	good, bad := filepath.Join(t.TempDir(), "退回通知.pdf"), filepath.Join(t.TempDir(), "扫描.gif")
	os.WriteFile(good, pdf, 0o600)
	os.WriteFile(bad, []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), 0o600)
	decide := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		c := Main(ctx, append(append([]string{"decide", "--by", "张华"}, args...), "--data", dir), strings.NewReader(""), &out, &errb)
		return c, out.String(), errb.String()
	}
	if c, out, errs := decide("--app", "a1", "--op", "return", "--comment", "请补充", "--file", good); c != 0 || out != "已记录决定：退回补充，申请 a1，随决定下发文件 1 个\n" {
		t.Fatalf("decide --file: exit %d %q %q", c, out, errs)
	}
	if c, _, errs := decide("--app", "a2", "--op", "return", "--comment", "请补充", "--file", good, "--file", bad); c != 1 || !strings.Contains(errs, "「扫描.gif」不能随决定下发") || !strings.Contains(errs, "决定没有记录") {
		t.Errorf("decide with a GIF: exit %d %q", c, errs)
	}

	st, err := server.OpenSQLite(ctx, filepath.Join(dir, "county.db"), "340123")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sum := sha256.Sum256(pdf)
	hash := hex.EncodeToString(sum[:])
	if fi, err := st.FileInScope(ctx, hash, "340123101"); err != nil || fi.Size != int64(len(pdf)) {
		t.Errorf("the document at the county: %+v %v", fi, err)
	}
	if a, _ := st.Application(ctx, "a2", ""); a.Status != records.StatusSubmitted {
		t.Errorf("a2 after the refused file: %s", a.Status)
	}
}
