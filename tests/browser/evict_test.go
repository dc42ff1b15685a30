package browser

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"stationsync/agent"
	"stationsync/agent/web"
	"stationsync/internal/testsupport"
)

// A photo the county acknowledged leaves the station's disk: the visit's
// page says 已从本机清理，可从县里取回 with a button, the sync page shows
// the disk (files held, bytes, evicted, free space); with the county down
// the button says so and what to do; with it up the photo comes back and
// its thumbnail is drawn again.
func TestEvictedPhotoFetchedFromPages(t *testing.T) {
	ctx := browser(t)
	co := testsupport.NewCounty(t)
	s := testsupport.OpenStation(t, "", agent.Config{Attach: agent.AttachConfig{EvictAfter: time.Nanosecond}})
	ws, err := web.New(s.Agent, web.Options{Logger: testsupport.Quiet, SyncTimeout: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ws.Handler())
	t.Cleanup(srv.Close)
	a := s.Agent
	c := &cadre{t: t, ctx: ctx, base: srv.URL, prefix: "evict"}

	c.firstRun()
	c.enroll(co.URL(), co.Code(t, village), "注册成功")
	person := c.addPerson()
	c.recordVisit(person, false)
	visit, err := chromedp.Run(c.ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('a[href^="/visits/"]')].map(a => a.getAttribute("href")).find(h => /^\/visits\/[0-9a-f-]{36}$/.test(h)) || ""`))
	if err != nil || visit == "" {
		t.Fatalf("no link to the visit (%v)", err)
	}
	id := strings.TrimPrefix(visit, "/visits/")
	img := image.NewRGBA(image.Rect(0, 0, 1200, 900))
	for y := range 900 {
		for x := range 1200 {
			img.Set(x, y, color.RGBA{uint8(60 + x/10), uint8(120 + y/10), 90, 255})
		}
	}
	var b bytes.Buffer
	jpeg.Encode(&b, img, &jpeg.Options{Quality: 90})
	bg := context.Background()
	hash, err := a.Attach(bg, id, "IMG_0930.jpg", "李明", &b)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := a.SyncOnce(bg); err != nil {
			t.Fatal(err)
		}
	}
	if res, err := a.EvictFiles(bg); err != nil || res.Files != 1 {
		t.Fatalf("evict: %+v %v", res, err)
	}

	c.open(visit)
	c.see("已从本机清理，可从县里取回")
	c.see("从县里取回")
	c.shot("visit-evicted")
	c.narrow("visit-evicted")
	c.open("/sync")
	c.see("本机磁盘")
	c.see("磁盘剩余空间")
	c.waitFor(`document.querySelector("#file-counts").innerText.includes("已从本机清理")`, "evicted count")
	c.waitFor(`/已上传到县里\s*1 个/.test(document.querySelector("#file-counts").innerText)`, "the evicted file counted as uploaded")
	c.shot("sync-disk")
	c.narrow("sync-disk")

	co.LinkDown()
	c.open(visit)
	c.submit(`form[action$="/`+hash+`/fetch"] button`, "现在连不上县里")
	c.shot("visit-fetch-offline")
	if at, _ := a.Attachments(bg, id); len(at) != 1 || at[0].State != agent.FileEvicted {
		t.Fatalf("after a failed fetch: %+v", at)
	}

	co.LinkUp()
	c.submit(`form[action$="/`+hash+`/fetch"] button`, "已从县里取回这个文件")
	c.waitFor(`(() => { const i = document.querySelector("img.thumb"); return !!i && i.complete && i.naturalWidth > 0; })()`, "thumbnail loaded")
	c.shot("visit-fetched")
	c.narrow("visit-fetched")
	if at, _ := a.Attachments(bg, id); len(at) != 1 || at[0].State != agent.FileAcked {
		t.Fatalf("after the fetch: %+v", at)
	}

	// Evicted again, the photo opened from its link comes back by itself;
	// with the county down it says why in Chinese.
	time.Sleep(2 * time.Millisecond) // past the nanosecond EvictAfter, on the ms clock
	if res, err := a.EvictFiles(bg); err != nil || res.Files != 1 {
		t.Fatalf("evict again: %+v %v", res, err)
	}
	get := `fetch("/files/` + id + `/` + hash + `").then(async r => r.status + " " + r.headers.get("Content-Type") + " " + (r.ok ? "" : await r.text()))`
	co.LinkDown()
	got, err := chromedp.Run(c.ctx, chromedp.Evaluate[string](get, chromedp.EvalAsValue, chromedp.EvalAwaitPromise))
	if err != nil || !strings.HasPrefix(got, "503 ") || !strings.Contains(got, "现在连不上县里") {
		t.Fatalf("opening an evicted photo with the county down: %q %v", got, err)
	}
	co.LinkUp()
	got, err = chromedp.Run(c.ctx, chromedp.Evaluate[string](get, chromedp.EvalAsValue, chromedp.EvalAwaitPromise))
	if err != nil || got != "200 image/jpeg " {
		t.Fatalf("opening an evicted photo: %q %v", got, err)
	}
	if at, _ := a.Attachments(bg, id); len(at) != 1 || at[0].State != agent.FileAcked {
		t.Fatalf("after opening: %+v", at)
	}
}
