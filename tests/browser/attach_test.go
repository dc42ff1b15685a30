package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"stationsync/internal/records"
	"stationsync/internal/testsupport"
)

// A photo and a PDF scan attached to a visit at once with the county down: the thumbnail and 待上传
// on the visit's page, the file counted on the sync page; the county
// comes back, a sync takes the record and then the file up, the page says
// 已上传到县里, 删除 is gone, and the county holds the file named by the
// visit.
func TestAttachPhotoCountyDown(t *testing.T) {
	ctx := browser(t)
	co := testsupport.NewCounty(t)
	a, base := newStation(t)
	c := &cadre{t: t, ctx: ctx, base: base, prefix: "attach"}

	c.firstRun()
	c.enroll(co.URL(), co.Code(t, village), "注册成功")
	person := c.addPerson()
	co.LinkDown()
	c.recordVisit(person, false)
	visit, err := chromedp.Run(c.ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('a[href^="/visits/"]')].map(a => a.getAttribute("href")).find(h => /^\/visits\/[0-9a-f-]{36}$/.test(h)) || ""`))
	if err != nil || visit == "" {
		t.Fatalf("no link to the visit on the person's page (%v)", err)
	}
	c.open(visit)
	c.see("还没有照片或附件")

	// A camera photo: a sunset-coloured gradient, 2400 × 1800.
	img := image.NewRGBA(image.Rect(0, 0, 2400, 1800))
	for y := range 1800 {
		for x := range 2400 {
			img.Set(x, y, color.RGBA{uint8(200 + x/48), uint8(80 + y/12), uint8(40 + (x+y)/40), 255})
		}
	}
	var b bytes.Buffer
	jpeg.Encode(&b, img, &jpeg.Options{Quality: 90})
	photo := filepath.Join(t.TempDir(), "IMG_20261203_0915.jpg")
	if err := os.WriteFile(photo, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	// An ASCII name on disk: this test machine's Chromium sends no file whose path it cannot convert from its locale.
	scan := filepath.Join(t.TempDir(), "scan.pdf")
	if err := os.WriteFile(scan, []byte("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.do("choose the photo and the scan", chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{photo, scan}))
	c.shot("visit-photo-chosen")
	c.submit("#attach", "已添加 2 个文件")
	c.see("待上传")
	c.see("IMG_20261203_0915.jpg")
	c.see("scan.pdf")
	// The thumbnail is drawn: the browser fetched and decoded it.
	c.waitFor(`(() => { const i = document.querySelector("img.thumb"); return !!i && i.complete && i.naturalWidth > 0 && i.naturalWidth <= 320; })()`, "thumbnail loaded")
	c.shot("visit-photo-pending")
	c.narrow("visit-photo-pending")
	c.open("/sync")
	c.see("照片和附件")
	c.shot("sync-files-pending")

	co.LinkUp()
	c.open(visit)
	c.syncNow("同步成功")
	// One more round if the file went after the record in a second one.
	for range 3 {
		if n, _ := a.Store.FileCounts(context.Background()); n.Acked == 2 {
			break
		}
		c.open(visit)
		c.syncNow("同步成功")
	}
	c.open(visit)
	c.see("已上传到县里")
	if still, err := chromedp.Run(c.ctx, chromedp.Evaluate[bool](`document.querySelector("#files").innerText.includes("待上传")`)); err != nil || still {
		t.Errorf("the file still shows 待上传 (%v)", err)
	}
	if n, err := chromedp.Run(c.ctx, chromedp.Evaluate[int](`document.querySelectorAll('#files form[action$="/delete"]').length`)); err != nil || n != 0 {
		t.Errorf("删除 still offered after upload: %d %v", n, err)
	}
	c.shot("visit-photo-uploaded")
	c.narrow("visit-photo-uploaded")

	// The county has the record naming the file, and the file itself.
	id := strings.TrimPrefix(visit, "/visits/")
	list, err := a.Attachments(context.Background(), id)
	if err != nil || len(list) != 2 {
		t.Fatalf("station's files: %v %v", list, err)
	}
	recs, err := co.Store.Records(context.Background(), records.Visit, village)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range list {
		named := false
		for _, r := range recs {
			j, _ := json.Marshal(r)
			if strings.Contains(string(j), id) && strings.Contains(string(j), at.Hash) {
				named = true
			}
		}
		if !named {
			t.Errorf("the county's visit does not name %s (%s)", at.Name, at.Hash)
		}
		files, err := co.Store.Files(context.Background(), []string{at.Hash})
		if err != nil || files[at.Hash].Size != at.Size || files[at.Hash].Type != at.Type {
			t.Errorf("county's file: %+v %v, station's %+v", files[at.Hash], err, at)
		}
	}
}
