package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"stationsync/internal/gen"
	"stationsync/internal/hlc"
	"stationsync/internal/records"
	"stationsync/syncproto"
)

// What the county's command line prints for a person says money in 元 and
// steps and headings in Chinese (it printed 金额(分)=123450 and the op's
// code before).
func TestCommandLinesSpeakChinese(t *testing.T) {
	ctx := context.Background()
	const village = "340123101202"
	st, stn, dir := countyWithStation(t, village)
	g := gen.New(4)
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
	} {
		h++
		changes = append(changes, syncproto.Change{Seq: uint64(i + 1), HLC: uint64(h), Kind: c.kind, ID: c.id, Op: string(c.op), Fields: fieldsOf(c.f), By: "李明"})
	}
	res, err := st.Push(ctx, stn, &syncproto.Batch{Version: syncproto.Version, Station: stn.ID, Epoch: "e1", Village: village, Changes: changes})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Results {
		if r.Status != syncproto.Applied {
			t.Fatalf("push: %+v", res.Results)
		}
	}
	st.Close()

	run := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if c := Main(ctx, append(args, "--data", dir), strings.NewReader(""), &out, &errb); c != 0 {
			t.Fatalf("%v: exit %d %s", args, c, errb.String())
		}
		return out.String()
	}
	if out := run("decide", "--app", "a1", "--op", "accept", "--by", "张华"); out != "已记录决定：受理，申请 a1\n" {
		t.Errorf("accept: %q", out)
	}
	if out := run("decide", "--app", "a1", "--op", "approve", "--by", "张华", "--amount", "1234.5", "--from", "2026-12"); out != "已记录决定：批准，申请 a1，金额 1234.50 元\n" {
		t.Errorf("approve: %q", out)
	}
	var out2, errb bytes.Buffer
	if c := Main(ctx, []string{"decide", "--app", "none", "--op", "accept", "--data", dir}, strings.NewReader(""), &out2, &errb); c != 1 || errb.String() != "错误: 县里没有编号为 none 的申请\n" {
		t.Errorf("decide on no application: exit %d, %q", c, errb.String())
	}
	out := run("user", "list")
	if first, _, _ := strings.Cut(out, "\n"); !strings.Contains(first, "账号") || !strings.Contains(first, "角色") || !strings.Contains(first, "状态") {
		t.Errorf("user list heading: %q", out)
	}
}
