package browser

import (
	"bytes"
	"context"
	"image/jpeg"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"stationsync/agent"
	"stationsync/agent/web"
	"stationsync/internal/testsupport"
)

// A photo taken with the PC's camera on a visit's page: Chromium's fake
// camera (a moving test picture) with its permission prompt answered yes.
// 用摄像头拍照 opens a live preview, 拍照 sends the frame through the same
// attach form as a chosen file, and the visit then holds one JPEG of the
// camera's size (scaled as every photo is) with its thumbnail; the camera
// is off afterwards. A camera refused (or missing) says in Chinese what to
// do instead and attaches nothing.
func TestAttachWebcamPhoto(t *testing.T) {
	ctx := browser(t,
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true))
	co := testsupport.NewCounty(t)
	a, base, log := loggedStation(t)
	c := &cadre{t: t, ctx: ctx, base: base, prefix: "webcam"}
	// Every page counts what the Content-Security-Policy refused (a
	// camera picture it would not let the page draw or send, say).
	c.do("watch CSP", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `window.__csp = []; document.addEventListener("securitypolicyviolation", e => window.__csp.push(e.violatedDirective + " " + e.blockedURI));`})
		return err
	}))
	defer func() {
		if t.Failed() {
			t.Logf("station log:\n%s", log)
		}
	}()

	c.firstRun()
	c.enroll(co.URL(), co.Code(t, village), "注册成功")
	person := c.addPerson()
	co.LinkDown()
	c.recordVisit(person, false)
	visit, err := chromedp.Run(c.ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('a[href^="/visits/"]')].map(a => a.getAttribute("href")).find(h => /^\/visits\/[0-9a-f-]{36}$/.test(h)) || ""`))
	if err != nil || visit == "" {
		t.Fatalf("no link to the visit on the person's page (%v)", err)
	}
	id := strings.TrimPrefix(visit, "/visits/")
	c.open(visit)
	c.see("还没有照片或附件")
	c.see("用摄像头拍照")
	c.shot("visit-camera-offered")
	c.narrow("visit-camera-offered")

	// 取消 closes the preview and turns the camera off.
	c.click("#webcam-open")
	c.waitFor(`(() => { const v = document.querySelector("#webcam-view"); return !!v && !document.querySelector("#webcam").hidden && v.videoWidth > 0 && !document.querySelector("#webcam-shoot").disabled; })()`, "live preview")
	c.shot("visit-camera-preview")
	c.narrow("visit-camera-preview")
	c.do("keep the tracks", chromedp.Evaluate[chromedp.Void](`window.__tracks = document.querySelector("#webcam-view").srcObject.getTracks()`))
	c.click("#webcam-cancel")
	c.waitFor(`document.querySelector("#webcam").hidden && !document.querySelector("#webcam-view").srcObject`, "preview closed")
	if off, err := chromedp.Run(c.ctx, chromedp.Evaluate[bool](`window.__tracks.length > 0 && window.__tracks.every(t => t.readyState === "ended")`)); err != nil || !off {
		t.Errorf("camera still on after 取消 (%v)", err)
	}
	c.notSee("拍照成功") // nothing sent
	if list, err := a.Attachments(context.Background(), id); err != nil || len(list) != 0 {
		t.Fatalf("取消 attached %v (%v)", list, err)
	}

	// 拍照: the frame goes up as a JPEG, through the attach form.
	c.click("#webcam-open")
	c.waitFor(`(() => { const v = document.querySelector("#webcam-view"); return v.videoWidth > 0 && !document.querySelector("#webcam-shoot").disabled; })()`, "live preview again")
	size, err := chromedp.Run(c.ctx, chromedp.Evaluate[[]int](`(() => { const v = document.querySelector("#webcam-view"); return [v.videoWidth, v.videoHeight]; })()`))
	if err != nil || len(size) != 2 {
		t.Fatalf("camera frame size: %v %v", size, err)
	}
	// Whether the camera is off by the time the form goes: noted for the
	// next page, since sending it leaves this one.
	c.do("watch the send", chromedp.Evaluate[chromedp.Void](`(() => {
		const tracks = document.querySelector("#webcam-view").srcObject.getTracks();
		const send = HTMLFormElement.prototype.requestSubmit;
		HTMLFormElement.prototype.requestSubmit = function (b) {
			sessionStorage.setItem("cameraOff", String(tracks.every(t => t.readyState === "ended")));
			sessionStorage.setItem("sent", [...this.querySelector("#file").files].map(f => f.type + " " + f.size).join());
			return send.call(this, b);
		};
		window.__left = true;
	})()`))
	c.click("#webcam-shoot")
	c.see("已添加 1 个文件")
	c.see("待上传")
	c.waitFor(`(() => { const i = document.querySelector("img.thumb"); return !!i && i.complete && i.naturalWidth > 0; })()`, "thumbnail of the camera photo")
	c.shot("visit-camera-photo")
	c.narrow("visit-camera-photo")
	if off, err := chromedp.Run(c.ctx, chromedp.Evaluate[string](`sessionStorage.getItem("cameraOff")`)); err != nil || off != "true" {
		t.Errorf("camera still on when the photo was sent: %q (%v)", off, err)
	}
	sent, _ := chromedp.Run(c.ctx, chromedp.Evaluate[string](`sessionStorage.getItem("sent")`))
	t.Logf("camera %d×%d, sent through the attach form: %s", size[0], size[1], sent)

	list, err := a.Attachments(context.Background(), id)
	if err != nil || len(list) != 1 {
		t.Fatalf("station's files after 拍照: %v %v", list, err)
	}
	at := list[0]
	if at.Type != "image/jpeg" || !strings.HasPrefix(at.Name, "摄像头照片-") || !strings.HasSuffix(at.Name, ".jpg") {
		t.Errorf("camera photo kept as %q named %q, want a .jpg JPEG", at.Type, at.Name)
	}
	r, err := a.OpenAttachment(at.Hash)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := jpeg.DecodeConfig(r)
	r.Close()
	if err != nil {
		t.Fatalf("the kept camera photo is no JPEG: %v", err)
	}
	w, h := size[0], size[1]
	if long := max(w, h); long > 1600 { // every photo is scaled to 1,600 px
		w, h = w*1600/long, h*1600/long
	}
	if abs(cfg.Width-w) > 1 || abs(cfg.Height-h) > 1 {
		t.Errorf("kept photo is %d×%d, camera gave %d×%d (want %d×%d)", cfg.Width, cfg.Height, size[0], size[1], w, h)
	}

	// A camera refused: the message says what to do, nothing is added,
	// and the preview never opens.
	c.open(visit)
	c.do("refuse the camera", chromedp.Evaluate[chromedp.Void](`navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException("Permission denied", "NotAllowedError"))`))
	c.click("#webcam-open")
	c.see("可以用手机拍照后复制到电脑再添加")
	if open, err := chromedp.Run(c.ctx, chromedp.Evaluate[bool](`!document.querySelector("#webcam").hidden`)); err != nil || open {
		t.Errorf("preview shown with the camera refused (%v)", err)
	}
	c.shot("visit-camera-refused")
	c.narrow("visit-camera-refused")
	if list, err := a.Attachments(context.Background(), id); err != nil || len(list) != 1 {
		t.Fatalf("a refused camera changed the files: %v (%v)", list, err)
	}

	// A browser without a camera API: no button at all, the file form as before.
	c.do("no camera API", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `Object.defineProperty(Navigator.prototype, "mediaDevices", { get: () => undefined })`})
		return err
	}))
	c.open(visit)
	c.see("添加照片或扫描件")
	c.notSee("用摄像头拍照")

	if csp, err := chromedp.Run(c.ctx, chromedp.Evaluate[[]string](`window.__csp`)); err != nil || len(csp) != 0 {
		t.Errorf("Content-Security-Policy refused: %v (%v)", csp, err)
	}
	if strings.Contains(log.String(), "level=ERROR") {
		t.Errorf("the station logged errors")
	}
}

// loggedStation is newStation with the station's log kept, to be read.
func loggedStation(t *testing.T) (*agent.Agent, string, *syncBuffer) {
	t.Helper()
	buf := &syncBuffer{}
	lg := slog.New(slog.NewTextHandler(buf, nil))
	s := testsupport.OpenStation(t, "", agent.Config{Logger: lg})
	ws, err := web.New(s.Agent, web.Options{Logger: lg, SyncTimeout: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ws.Handler())
	t.Cleanup(srv.Close)
	return s.Agent, srv.URL, buf
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
