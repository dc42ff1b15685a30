package countyweb

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"stationsync/internal/gen"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
	"stationsync/server"
)

// An administrator imports a village's USB bundle through the stations
// page's link and gets the answer to download, at 1280 and 390 px.
func TestBrowserImportBundle(t *testing.T) {
	ctx := context.Background()
	c := newCounty(t)
	if _, err := c.store.CreateUser(ctx, server.NewUser{Username: "admin", DisplayName: "管理员", Role: server.RoleAdmin, Password: pw}); err != nil {
		t.Fatal(err)
	}
	const v = "340123101201"
	s := c.station(t, v)
	s.MustSave(t, records.Person, "", testsupport.Fields(gen.New(5).Person(v)))
	ex, err := s.Export(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// An ASCII name on disk: Chromium here sends no file whose path it
	// cannot convert from its locale.
	up := filepath.Join(t.TempDir(), "uplink.bundle")
	b, _ := os.ReadFile(ex.Path)
	os.WriteFile(up, b, 0o600)

	for _, w := range []int{1280, 390} {
		bctx := c.browser(t, w, 900, 90*time.Second)
		c.logIn(t, bctx, "admin")
		if err := chromedp.Do(bctx,
			chromedp.Navigate(c.url+"/stations"),
			chromedp.Click(chromedp.CSS("#to-bundles")),
			chromedp.WaitVisible(chromedp.CSS("#file")),
			chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{up}),
			chromedp.Click(chromedp.CSS("#import")),
			chromedp.WaitVisible(chromedp.CSS("#answer")),
		); err != nil {
			t.Fatalf("import at %d px: %v", w, err)
		}
		shoot(t, bctx, "bundle-imported-"+strconv.Itoa(w))
	}
}
