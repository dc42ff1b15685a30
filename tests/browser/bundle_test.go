package browser

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"stationsync/internal/testsupport"
	"stationsync/server"
)

// A village without a link: from the sync page the cadre opens U盘传送,
// exports to the stick's folder, and after the county's import takes the
// answer back in through the upload form; nothing is left queued.
func TestExportAndImportBundleFromPages(t *testing.T) {
	ctx := browser(t)
	co := testsupport.NewCounty(t)
	a, base := newStation(t)
	c := &cadre{t: t, ctx: ctx, base: base, prefix: "bundle"}

	c.firstRun()
	c.enroll(co.URL(), co.Code(t, village), "注册成功")
	co.LinkDown()
	c.addPerson()
	c.open("/sync")
	c.click("#to-bundles")
	c.see("导出到U盘")
	c.see("待上传 1 条")
	stick := t.TempDir()
	c.fill("#dir", stick)
	c.submit("#export", "已导出 村站通-")
	c.see("1 条记录，0 个附件")
	c.shot("exported")
	c.narrow("exported")
	files, _ := filepath.Glob(filepath.Join(stick, "村站通-*.bundle"))
	if len(files) != 1 {
		t.Fatalf("the stick holds %v", files)
	}
	res, err := co.Store.ImportBundle(context.Background(), server.BundleImport{Path: files[0], OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	// An ASCII name on disk: this machine's Chromium sends no file whose
	// path it cannot convert from its locale.
	answer := filepath.Join(t.TempDir(), "answer.bundle")
	b, err := os.ReadFile(res.Downlink)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(answer, b, 0o600); err != nil {
		t.Fatal(err)
	}
	c.do("choose the answer", chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{answer}))
	c.submit("#import", "已导入县里的回执：1 条记录已确认")
	c.shot("imported")
	c.narrow("imported")
	if n, _ := a.Store.Pending(context.Background()); n != 0 {
		t.Fatalf("%d changes still queued after the answer", n)
	}
}
