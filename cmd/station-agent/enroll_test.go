package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"stationsync/internal/gen"
	"stationsync/internal/testsupport"
)

// `station-agent enroll` names the county it enrolled with; records made
// before it wait for the confirmation (the sync says so, in words), and
// --yes gives it.
func TestEnrollCommandNamesCountyAndWaits(t *testing.T) {
	ctx := context.Background()
	county := testsupport.NewCounty(t)
	cs := county.Store
	cs.SetPlaceName(ctx, "340123", "长丰县民政局")
	code := county.Code(t, "340123101201")

	dir := t.TempDir()
	run := func(in any, args ...string) (int, string) {
		var stdin bytes.Buffer
		if in != nil {
			b, _ := json.Marshal(in)
			stdin.Write(b)
		}
		var out bytes.Buffer
		c := Main(ctx, append(args, "--data", dir), &stdin, &out, &out)
		return c, out.String()
	}
	if c, out := run(gen.New(3).Person("340123101201"), "add", "--kind", "person", "--by", "李明"); c != 0 {
		t.Fatalf("add: %d %s", c, out)
	}
	c, out := run(nil, "enroll", "--server", county.URL(), "--code", code)
	if c != 0 || !strings.Contains(out, "长丰县民政局（340123）") || !strings.Contains(out, "注册前录入的 1 条记录暂不上传") {
		t.Fatalf("enroll: %d %s", c, out)
	}
	if c, out := run(nil, "sync"); c == 0 || !strings.Contains(out, "注册待确认") {
		t.Fatalf("sync before confirming: %d %s", c, out)
	}
	if c, out := run(nil, "enroll", "--server", county.URL(), "--code", code, "--yes"); c != 0 || !strings.Contains(out, "已确认县级服务器 长丰县民政局") {
		t.Fatalf("enroll --yes: %d %s", c, out)
	}
	if c, out := run(nil, "sync"); c != 0 {
		t.Fatalf("sync after confirming: %d %s", c, out)
	}
}
