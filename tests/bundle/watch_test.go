package bundle

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/bundle"
	"stationsync/internal/gen"
	"stationsync/internal/testsupport"
)

// Watched folders both ways: the station's export dropped into the
// county's import folder is imported there and answered beside it; the
// answer dropped into the station's inbox is imported there. A tampered
// bundle is set aside with its reason in Chinese.
func TestWatchedFoldersBothWays(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c := testsupport.NewCounty(t)
	s := testsupport.NewStation(t, c, village, agent.Config{})
	c.LinkDown()
	s.AddPeople(t, gen.New(51), village, 2)

	importDir, inbox := t.TempDir(), t.TempDir()
	done := make(chan struct{})
	go func() { defer close(done); c.Store.WatchBundles(ctx, importDir, false, testsupport.Quiet) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := s.WatchInbox(inbox, true); err != nil {
		t.Fatal(err)
	}

	// A tampered copy first: set aside, nothing applied.
	ex, err := s.Export(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(ex.Path)
	b[100] ^= 1
	bad := filepath.Join(importDir, "村站通-"+village+"-20261201-5.bundle")
	if err := os.WriteFile(bad, b, 0o600); err != nil {
		t.Fatal(err)
	}
	why := filepath.Join(importDir, bundle.RefusedDir, filepath.Base(bad)+".txt")
	waitFor(t, 20*time.Second, "tampered bundle set aside", func() bool { _, err := os.Stat(why); return err == nil })
	if txt, _ := os.ReadFile(why); !strings.Contains(string(txt), "损坏或被改动") {
		t.Fatalf("reason beside the refused bundle: %q", txt)
	}

	// The real one, renamed into the folder as a careful copy does.
	tmp := filepath.Join(importDir, ".copy.tmp")
	copyFile(t, ex.Path, tmp)
	if err := os.Rename(tmp, filepath.Join(importDir, filepath.Base(ex.Path))); err != nil {
		t.Fatal(err)
	}
	var answer string
	waitFor(t, 20*time.Second, "answer beside the bundle", func() bool {
		m, _ := filepath.Glob(filepath.Join(importDir, "村站通回执-*.bundle"))
		if len(m) == 1 {
			answer = m[0]
		}
		return answer != ""
	})
	if _, err := os.Stat(filepath.Join(importDir, bundle.DoneDir, filepath.Base(ex.Path))); err != nil {
		t.Fatalf("the imported bundle did not move to %s: %v", bundle.DoneDir, err)
	}
	copyFile(t, answer, filepath.Join(inbox, filepath.Base(answer)))
	waitFor(t, 20*time.Second, "answer imported from the inbox", func() bool { return s.Pending(t) == 0 })
	testsupport.AssertConverged(t, c, s, village)
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
