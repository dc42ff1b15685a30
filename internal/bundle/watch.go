package bundle

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/fsnotify/fsnotify"

	"stationsync/internal/atomicfile"
)

// A watched folder takes the bundles of one kind that appear in it: the
// county's import folder (uplinks), a station's inbox (downlinks). What
// fsnotify can and cannot do decides how:
//
//   - An event is a hint to look, never the news itself: a file is taken
//     only once its size and time have stood still for Stable and it can
//     be opened for reading alone (on Windows nobody else may have it
//     open: a copy in progress holds it). A file written slowly in pieces
//     is therefore taken once, whole.
//   - A bundle renamed into place (how internal/bundle writes, and how a
//     careful copy does) is a Create in the folder: the same look.
//   - Events are lost (a Windows buffer overflow, a network or removable
//     drive sends none): the folder is read again every Rescan.
//   - The watch must never keep a removable drive busy: a watch holds the
//     folder open, so with Poll it only reads the folder now and then, and
//     a taken file is copied to Work and closed before it is checked.
//
// A taken bundle leaves the folder: moved into 已导入/ or, refused, into
// 未导入/ beside a .txt saying why, so that neither is taken again and the
// person at the folder sees what happened. A folder where it cannot be
// moved (a read-only stick) is remembered by name, size and time instead.

// WatchOptions shape a watched folder; zero values take the defaults
// beside each field.
type WatchOptions struct {
	Kind   Kind          // the bundles to take
	Work   string        // local folder for copies of what is taken (default: a temp folder)
	Stable time.Duration // how long size and time must stand still; default 2 s
	Rescan time.Duration // how often the folder is read without events; default 30 s
	Poll   bool          // no fsnotify watch: for removable and network drives
	Logger *slog.Logger
}

// Folder names a taken bundle is moved to.
const (
	DoneDir    = "已导入"
	RefusedDir = "未导入"
)

// Watch takes every bundle of opt.Kind that appears in dir, one at a
// time, with take (given a local copy's path), until ctx ends. An error
// of take that is an *Error refuses the bundle; any other is logged and
// the bundle is tried again at the next rescan.
func Watch(ctx context.Context, dir string, opt WatchOptions, take func(ctx context.Context, path string) error) error {
	if opt.Stable <= 0 {
		opt.Stable = 2 * time.Second
	}
	if opt.Rescan <= 0 {
		opt.Rescan = 30 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Work == "" {
		w, err := os.MkdirTemp("", "stationsync-bundles-")
		if err != nil {
			return fmt.Errorf("watch %s: %w", dir, err)
		}
		defer os.RemoveAll(w)
		opt.Work = w
	}
	w := &watcher{dir: dir, opt: opt, take: take, seen: map[string]sighting{}, done: map[string]bool{}}
	var events <-chan fsnotify.Event
	var errs <-chan error
	if !opt.Poll {
		fw, err := fsnotify.NewWatcher()
		if err == nil {
			err = fw.Add(dir)
		}
		if err != nil {
			opt.Logger.Warn("bundle folder not watched; read every rescan instead", "dir", dir, "err", err)
		} else {
			defer fw.Close()
			events, errs = fw.Events, fw.Errors
		}
	}
	// Look at once, then after each event (once things may have settled)
	// and each rescan.
	look := time.NewTimer(0)
	defer look.Stop()
	rescan := time.NewTicker(opt.Rescan)
	defer rescan.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-events:
			if _, _, _, _, ok := ParseFileName(ev.Name); ok {
				look.Reset(opt.Stable / 2)
			}
		case err := <-errs:
			opt.Logger.Warn("bundle folder watch", "dir", dir, "err", err)
			look.Reset(0)
		case <-rescan.C:
			look.Reset(0)
		case <-look.C:
			if again := w.scan(ctx); again {
				// A file still growing, or not yet stable: look again soon,
				// without waiting for an event that may not come.
				look.Reset(opt.Stable / 2)
			}
		}
	}
}

type sighting struct {
	size  int64
	mtime time.Time
	since time.Time
}

type watcher struct {
	dir  string
	opt  WatchOptions
	take func(context.Context, string) error
	seen map[string]sighting // name → how it looked, since when
	done map[string]bool     // name|size|mtime of bundles that could not be moved away
}

// scan takes what is ready; it reports whether something is still
// settling.
func (w *watcher) scan(ctx context.Context) (again bool) {
	ents, err := os.ReadDir(w.dir)
	if err != nil {
		w.opt.Logger.Warn("bundle folder unreadable", "dir", w.dir, "err", err)
		return false
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	now := time.Now()
	present := map[string]bool{}
	for _, e := range ents {
		kind, _, _, _, ok := ParseFileName(e.Name())
		if !ok || kind != w.opt.Kind || !e.Type().IsRegular() {
			continue
		}
		name := e.Name()
		present[name] = true
		fi, err := e.Info()
		if err != nil {
			continue
		}
		key := fmt.Sprintf("%s|%d|%d", name, fi.Size(), fi.ModTime().UnixNano())
		if w.done[key] {
			continue
		}
		s, ok := w.seen[name]
		if !ok || s.size != fi.Size() || !s.mtime.Equal(fi.ModTime()) {
			w.seen[name] = sighting{fi.Size(), fi.ModTime(), now}
			again = true
			continue
		}
		if now.Sub(s.since) < w.opt.Stable {
			again = true
			continue
		}
		if ctx.Err() != nil {
			return false
		}
		if busy := w.takeOne(ctx, name, key); busy {
			again = true
		}
	}
	for name := range w.seen {
		if !present[name] {
			delete(w.seen, name)
		}
	}
	return again
}

// takeOne copies the bundle to the work folder (the folder's file is
// closed before anything is checked), takes it, and moves it out of the
// way. It reports whether the file was still in use.
func (w *watcher) takeOne(ctx context.Context, name, key string) (busy bool) {
	src := filepath.Join(w.dir, name)
	local := filepath.Join(w.opt.Work, name)
	f, err := openExclusive(src)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false
		}
		w.opt.Logger.Debug("bundle still in use; later", "file", src, "err", err)
		return true
	}
	err = atomicfile.WriteFrom(local, f, 0o600)
	f.Close()
	if err != nil {
		w.opt.Logger.Warn("bundle not copied from the folder; later", "file", src, "err", err)
		return false
	}
	defer os.Remove(local)
	err = w.take(ctx, local)
	var be *Error
	switch {
	case errors.As(err, &be) && be.Code == CodeTruncated:
		// Perhaps still being written, with pauses longer than Stable (a
		// slow stick): taken again once it changes, never set aside.
		w.done[key] = true
		w.opt.Logger.Warn("bundle in the folder is incomplete; taken again if it grows", "file", src)
	case err == nil:
		w.moveAway(src, DoneDir, "", key)
		w.opt.Logger.Info("bundle taken from the folder", "file", src)
	case errors.As(err, &be) || errors.Is(err, errRefused):
		w.moveAway(src, RefusedDir, err.Error(), key)
		w.opt.Logger.Warn("bundle from the folder refused", "file", src, "reason", err.Error())
	default:
		w.opt.Logger.Error("bundle from the folder not taken; again at the next rescan", "file", src, "err", err)
		delete(w.seen, name)
	}
	return false
}

// errRefused marks a take's error as a refusal of the bundle (wrap it).
var errRefused = errors.New("bundle refused")

// Refused wraps err so that a watched folder sets the bundle aside.
func Refused(err error) error { return fmt.Errorf("%w: %w", errRefused, err) }

// moveAway moves a taken bundle into sub/ (with a .txt of why, if
// refused), or remembers it when the folder is read-only.
func (w *watcher) moveAway(src, sub, why, key string) {
	to := filepath.Join(w.dir, sub)
	err := atomicfile.MkdirAll(to, 0o700)
	if err == nil {
		dst := filepath.Join(to, filepath.Base(src))
		if _, serr := os.Lstat(dst); serr == nil {
			dst = filepath.Join(to, time.Now().Format("150405.000-")+filepath.Base(src))
		}
		if err = atomicfile.Rename(src, dst); err == nil && why != "" {
			err = atomicfile.Write(dst+".txt", []byte(why+"\n"), 0o644)
		}
	}
	if err != nil {
		w.opt.Logger.Warn("bundle left in the folder (read-only?); not taken again", "file", src, "err", err)
		w.done[key] = true
	}
}
