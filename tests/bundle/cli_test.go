package bundle

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"stationsync/internal/gen"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
)

var bins struct {
	once sync.Once
	b    testsupport.Binaries
	err  error
}

// binaries builds the two programs once for the tests that run them.
func binaries(t *testing.T) testsupport.Binaries {
	t.Helper()
	bins.once.Do(func() {
		var remove func()
		bins.b, remove, bins.err = testsupport.Build("bundle")
		if bins.err == nil {
			// The folder goes when the process ends; tests may share it.
			_ = remove
		}
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	return bins.b
}

// The commands as the staff run them: the station exports to a stick,
// the county (its service stopped) imports and writes the answer beside
// it, the station imports the answer; refusals exit non-zero with a
// Chinese sentence and change nothing.
func TestCommandsByStick(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs both programs")
	}
	b := binaries(t)
	county := testsupport.NewCountyProc(t, b.Server)
	county.Start()
	st := testsupport.NewStationProc(t, b.Agent, village)
	st.Enroll(county.URL(), county.Code(village))
	county.Stop()

	g := gen.New(21)
	pid := st.Add(records.Person, "", "李明", testsupport.Fields(g.Person(village)))
	st.Add(records.Visit, "", "李明", testsupport.Fields(g.Visit(pid, time.Now())))
	stick := t.TempDir()
	out := st.CLI(nil, "export", "--to", stick)
	if !regexp.MustCompile(`已导出 .*村站通-` + village + `-\d{8}-1\.bundle：2 条记录，0 个附件，共 [\d.]+ KB。`).MatchString(out) {
		t.Fatalf("export said %q", out)
	}
	up, _ := filepath.Glob(filepath.Join(stick, "村站通-*.bundle"))
	if len(up) != 1 {
		t.Fatalf("stick holds %v", up)
	}

	// Refused at the county: exit 1, the reason in Chinese, nothing in.
	data, err := os.ReadFile(up[0])
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "村站通-"+village+"-20261203-9.bundle")
	if err := os.WriteFile(bad, data[:len(data)-10], 0o600); err != nil {
		t.Fatal(err)
	}
	r := testsupport.Exec(time.Minute, nil, nil, b.Server, "import", bad, "--data", county.Data)
	if r.Err == nil || !strings.Contains(r.Stderr, "错误: 数据包文件不完整") {
		t.Fatalf("a cut bundle: %v\n%s", r.Err, r.Output())
	}
	if n := len(county.Records(records.Person, village)); n != 0 {
		t.Fatalf("a refused bundle put %d persons in", n)
	}

	out = county.CLI("import", up[0])
	if !strings.Contains(out, "2 条记录（新 2 条，重复 0 条，退回 0 条）") || !strings.Contains(out, "已生成回执") {
		t.Fatalf("county import said %q", out)
	}
	down, _ := filepath.Glob(filepath.Join(stick, "村站通回执-*.bundle"))
	if len(down) != 1 {
		t.Fatalf("no answer beside the bundle: %v", down)
	}
	// The station refuses the uplink in place of the answer.
	r = testsupport.Exec(time.Minute, nil, nil, b.Agent, "import", up[0], "--data", st.Data)
	if r.Err == nil || !strings.Contains(r.Stderr, "应在县级服务器导入") {
		t.Fatalf("station importing an uplink: %v\n%s", r.Err, r.Output())
	}
	out = st.CLI(nil, "import", down[0])
	if !strings.Contains(out, "2 条记录已确认") {
		t.Fatalf("station import said %q", out)
	}
	if p := st.Status().Pending; p != 0 {
		t.Fatalf("%d changes still queued", p)
	}
	// Online afterwards: nothing to send, the same records both sides.
	county.Start()
	st.SyncUntilDone(3)
	for _, k := range []records.Kind{records.Person, records.Visit} {
		if d := testsupport.CompareStation(village, county.Records(k, village), st.List(k)); len(d) > 0 {
			testsupport.Report(t, d)
		}
	}
	st.CheckDone()
}
