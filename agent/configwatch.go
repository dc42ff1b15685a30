package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"stationsync/internal/logging"
)

// Timings of WatchConfig; tests shorten them.
var (
	// configDebounce lets an editor finish its save (write temp, rename,
	// chmod) before the file is read: litestream's DirectoryMonitor uses
	// the same 250 ms.
	configDebounce = 250 * time.Millisecond
	// configPoll rereads the file even without events: events are hints
	// (a Windows buffer overflow loses them, a network drive sends none).
	configPoll = 30 * time.Second
)

// ConfigWatcher reloads a config file when it changes.
type ConfigWatcher struct {
	Path   string
	Logger *slog.Logger
	// Apply receives each valid new configuration, in order.
	Apply func(FileConfig)

	last [sha256.Size]byte // content last seen, valid or not
}

// WatchConfig applies each valid edit of the config file at path until
// Close: ApplyConfig, and then also, if set, for what belongs to the
// caller (the log level). The content there now counts as applied.
func (a *Agent) WatchConfig(path string, also func(FileConfig)) error {
	cur, _ := os.ReadFile(path) // none yet: the first one written is applied
	return a.bg.Go(func(ctx context.Context) error {
		w := NewConfigWatcher(path, cur, a.cfg.Logger.With("subsystem", "config"), func(c FileConfig) {
			if also != nil {
				also(c)
			}
			if err := a.ApplyConfig(ctx, c); err != nil {
				a.logger.Error("config reload", "err", err)
			}
		})
		return w.Run(ctx)
	})
}

// NewConfigWatcher watches path; current is the content already applied
// (nil if none), so an unchanged file is not applied twice.
func NewConfigWatcher(path string, current []byte, logger *slog.Logger, apply func(FileConfig)) *ConfigWatcher {
	w := &ConfigWatcher{Path: path, Logger: logger, Apply: apply}
	if current != nil {
		w.last = sha256.Sum256(current)
	}
	return w
}

// Run watches the file's folder, not the file: editors save by writing a
// new file and renaming it over the old one, and a watch on the old file
// is lost with it (fsnotify#17). It returns when ctx ends.
func (w *ConfigWatcher) Run(ctx context.Context) error {
	var events <-chan fsnotify.Event
	var errs <-chan error
	fw, err := fsnotify.NewWatcher()
	if err == nil {
		err = fw.Add(filepath.Dir(w.Path))
	}
	if err != nil {
		w.Logger.Warn("config file not watched; polling it instead", "file", w.Path, "err", err)
	} else {
		defer fw.Close()
		events, errs = fw.Events, fw.Errors
	}
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	poll := time.NewTicker(configPoll)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			debounce.Stop()
			return nil
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if isConfigEvent(ev, w.Path) {
				debounce.Reset(configDebounce)
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				debounce.Reset(configDebounce)
				continue
			}
			w.Logger.Warn("config watch error", "err", err)
		case <-debounce.C:
			w.Check()
		case <-poll.C:
			w.Check()
		}
	}
}

// isConfigEvent reports whether ev may have changed the file at path: a
// write, a create or a rename onto it. Chmod alone (antivirus, indexers)
// and events on other files in the folder are ignored; so is removal,
// after which the running configuration stays.
func isConfigEvent(ev fsnotify.Event, path string) bool {
	if filepath.Clean(ev.Name) != filepath.Clean(path) {
		return false
	}
	return ev.Has(fsnotify.Write) || ev.Has(fsnotify.Create) || ev.Has(fsnotify.Rename)
}

// Check reads the file and applies it if its content changed and is
// valid. An invalid edit is logged once, as an error an operator must
// handle, and the running configuration stays.
func (w *ConfigWatcher) Check() {
	b, err := os.ReadFile(w.Path)
	if err != nil {
		// Missing or being replaced: keep what runs; the rename's event or
		// the next poll brings the new file.
		return
	}
	sum := sha256.Sum256(b)
	if sum == w.last {
		return
	}
	w.last = sum
	c, err := ParseConfig(bytes.NewReader(b))
	if err != nil {
		w.Logger.Error("config file edit refused; the running configuration stays", "file", w.Path, "err", err)
		return
	}
	w.Logger.Info("config reloaded", "file", w.Path, "sync_interval", time.Duration(c.SyncInterval), "server", c.Server, "log_level", c.LogLevel, logging.Event())
	w.Apply(c)
}
