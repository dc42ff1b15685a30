package countyweb

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const chromium = "/usr/bin/chromium"

// browser starts headless Chromium (zh-CN, a window of w×h) for the test,
// trusting the county's server key by its SPKI hash the way a county PC
// trusts the installed CA; it skips the test without Chromium. The browser
// ends with the test, or after limit.
func (c *county) browser(t *testing.T, w, h int, limit time.Duration) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Skip("chromium not installed: run scripts/install-browser.sh")
	}
	conn, err := tls.Dial("tcp", c.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	spki := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].RawSubjectPublicKeyInfo)
	conn.Close()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(spki[:])),
		chromedp.Flag("lang", "zh-CN"), chromedp.WindowSize(w, h))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelTab := chromedp.NewContext(actx)
	bctx, cancel := context.WithTimeout(bctx, limit)
	t.Cleanup(func() { cancel(); cancelTab(); cancelAlloc() })
	return bctx
}

// logIn logs the browser in as user (password pw) through the log-in page
// and waits for the home page it lands on.
func (c *county) logIn(t *testing.T, bctx context.Context, user string) {
	t.Helper()
	if err := chromedp.Do(bctx,
		chromedp.Navigate(c.url+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.SendKeys(chromedp.CSS("#username"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Click(chromedp.CSS("#login-btn")),
	); err != nil {
		t.Fatalf("log in as %s: %v", user, err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		loc, err := chromedp.Run(bctx, chromedp.Location())
		if err == nil && !strings.Contains(loc, "/login") {
			if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS("#attention"))); err != nil {
				t.Fatalf("home page after logging in as %s: %v", user, err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still at %s after logging in as %s", loc, user)
		}
	}
}

// shoot saves a screenshot of the whole page as name.png in shotDir.
func shoot(t *testing.T, bctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(shotDir(t), name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Screenshots land in artifacts/screenshots/county (gitignored; README
// names it), or in $STATIONSYNC_ARTIFACTS/screenshots/county.
func shotDir(t *testing.T) string {
	base := os.Getenv("STATIONSYNC_ARTIFACTS")
	if base == "" {
		_, file, _, _ := runtime.Caller(0)
		base = filepath.Join(filepath.Dir(file), "..", "..", "artifacts")
	}
	dir := filepath.Join(base, "screenshots", "county")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
