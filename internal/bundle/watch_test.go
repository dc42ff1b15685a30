package bundle

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// taker is what a watched folder hands bundles to: it opens each as the
// county would and counts them by manifest ID.
type taker struct {
	mu    sync.Mutex
	got   map[string]int
	calls int
	ch    chan struct{}
}

func newTaker() *taker { return &taker{got: map[string]int{}, ch: make(chan struct{}, 1000)} }

func (tk *taker) take(_ context.Context, path string) error {
	b, err := Open(path, atCounty)
	tk.mu.Lock()
	tk.calls++
	tk.mu.Unlock()
	defer func() { tk.ch <- struct{}{} }()
	if err != nil {
		return err
	}
	defer b.Close()
	tk.mu.Lock()
	tk.got[b.ID]++
	tk.mu.Unlock()
	return nil
}

func (tk *taker) callCount() int {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	return tk.calls
}

func (tk *taker) count() (ids, total int) {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	for _, n := range tk.got {
		total += n
	}
	return len(tk.got), total
}

// until waits, on each take, for cond; it fails the test after d.
func (tk *taker) until(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(d)
	for !cond() {
		select {
		case <-tk.ch:
		case <-time.After(50 * time.Millisecond): // a move may follow the take
		case <-deadline:
			t.Fatalf("%s: not within %s", what, d)
		}
	}
}

func watch(t *testing.T, dir string, opt WatchOptions, tk *taker) {
	t.Helper()
	opt.Kind = Uplink
	opt.Logger = slog.New(slog.DiscardHandler)
	if opt.Stable == 0 {
		opt.Stable = 300 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); Watch(ctx, dir, opt, tk.take) }()
	t.Cleanup(func() { cancel(); <-done })
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// A bundle copied into the folder slowly, in pieces, is taken once and
// whole; one renamed into place is taken once; each leaves for 已导入/.
func TestWatchSlowCopyAndRename(t *testing.T) {
	src := write(t, t.TempDir(), Uplink, station, stationKey, sample())
	data := readBytes(t, src)
	dir := t.TempDir()
	tk := newTaker()
	watch(t, dir, WatchOptions{}, tk)

	// Pieces 40 ms apart: never still for the 300 ms a file must stand.
	f, err := os.Create(filepath.Join(dir, filepath.Base(src)))
	if err != nil {
		t.Fatal(err)
	}
	step := len(data) / 20
	for off := 0; off < len(data); off += step {
		f.Write(data[off:min(off+step, len(data))])
		time.Sleep(40 * time.Millisecond)
	}
	f.Close()
	tk.until(t, 10*time.Second, "slow copy taken", func() bool { _, n := tk.count(); return n == 1 })
	tk.until(t, 5*time.Second, "moved to "+DoneDir, func() bool {
		_, err := os.Stat(filepath.Join(dir, DoneDir, filepath.Base(src)))
		return err == nil
	})
	if tk.callCount() != 1 {
		t.Fatalf("taken %d times, want once, whole", tk.callCount())
	}

	// Renamed into place, as internal/bundle and careful copies write.
	src2 := write(t, t.TempDir(), Uplink, station, stationKey, sample())
	tmp := filepath.Join(dir, ".copying.tmp")
	if err := os.WriteFile(tmp, readBytes(t, src2), 0o600); err != nil {
		t.Fatal(err)
	}
	final := filepath.Join(dir, "村站通-"+village+"-20261204-7.bundle")
	if err := os.Rename(tmp, final); err != nil {
		t.Fatal(err)
	}
	tk.until(t, 10*time.Second, "renamed bundle taken", func() bool { ids, _ := tk.count(); return ids == 2 })
	time.Sleep(700 * time.Millisecond) // more than Stable: no second take comes
	if ids, n := tk.count(); ids != 2 || n != 2 {
		t.Fatalf("%d bundles taken %d times, want 2 once each", ids, n)
	}
}

// A writer that pauses longer than the folder waits: the half-written
// file is read, found incomplete, and taken when it is whole — never set
// aside as refused.
func TestWatchIncompleteIsTakenWhenWhole(t *testing.T) {
	src := write(t, t.TempDir(), Uplink, station, stationKey, sample())
	data := readBytes(t, src)
	dir := t.TempDir()
	tk := newTaker()
	watch(t, dir, WatchOptions{Stable: 100 * time.Millisecond}, tk)
	p := filepath.Join(dir, filepath.Base(src))
	if err := os.WriteFile(p, data[:len(data)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	tk.until(t, 10*time.Second, "half taken", func() bool { return tk.callCount() >= 1 })
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(data[len(data)/2:])
	f.Close()
	tk.until(t, 10*time.Second, "whole taken", func() bool { _, n := tk.count(); return n == 1 })
	if _, err := os.Stat(filepath.Join(dir, RefusedDir)); err == nil {
		t.Fatalf("an incomplete bundle was set aside: %v", names(t, filepath.Join(dir, RefusedDir)))
	}
}

// A burst of 100 bundles, with events, and polled without: each taken
// exactly once; a refused one goes to 未导入/ with its reason.
func TestWatchBurstOf100(t *testing.T) {
	for _, poll := range []bool{false, true} {
		t.Run(fmt.Sprintf("poll=%v", poll), func(t *testing.T) {
			staged := t.TempDir()
			var files []string
			for range 100 {
				files = append(files, write(t, staged, Uplink, station, stationKey, sample()[:1]))
			}
			bad := write(t, t.TempDir(), Uplink, station, otherKey, sample()[:1])
			dir := t.TempDir()
			tk := newTaker()
			opt := WatchOptions{Stable: 100 * time.Millisecond, Poll: poll}
			if poll {
				opt.Rescan = 200 * time.Millisecond
			}
			watch(t, dir, opt, tk)
			for _, f := range files {
				if err := os.Rename(f, filepath.Join(dir, filepath.Base(f))); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Rename(bad, filepath.Join(dir, "村站通-"+village+"-20261204-999.bundle")); err != nil {
				t.Fatal(err)
			}
			tk.until(t, 30*time.Second, "100 taken", func() bool { ids, _ := tk.count(); return ids == 100 })
			tk.until(t, 10*time.Second, "refused one set aside", func() bool {
				n, _ := filepath.Glob(filepath.Join(dir, RefusedDir, "*.txt"))
				return len(n) == 1
			})
			time.Sleep(400 * time.Millisecond)
			if ids, n := tk.count(); ids != 100 || n != 100 || tk.callCount() != 101 {
				t.Fatalf("%d bundles, %d takes, %d calls; want 100, 100, 101", ids, n, tk.callCount())
			}
			if left := names(t, dir); len(left) != 2 {
				t.Fatalf("folder holds %v, want only %s and %s", left, DoneDir, RefusedDir)
			}
			why, _ := filepath.Glob(filepath.Join(dir, RefusedDir, "*.txt"))
			if b := readBytes(t, why[0]); len(b) == 0 {
				t.Fatal("no reason beside the refused bundle")
			}
		})
	}
}
