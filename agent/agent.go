// Package agent is the station service: it keeps the village's records in
// a local SQLite store that works with no network, and syncs them with the
// county server whenever a link gets through.
package agent

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"stationsync/internal/atomicfile"
	"stationsync/internal/background"
	"stationsync/internal/fileperm"
	"stationsync/syncproto"
)

// Version is the agent's build version, set by the linker.
var Version = "dev"

// Config is how an agent runs. Zero values take the defaults written
// beside each field.
type Config struct {
	DataDir      string        // holds station.db and station.key
	SyncInterval time.Duration // between rounds when all is well; default 1 min
	// BatchSize fixes the changes per push. Zero adapts it to the link:
	// 1000 until a push has been timed, then as many as the measured link
	// carries in about 8 s, between 100 and 10,000, or aheadBatch on a
	// link fast enough for a batch to go ahead.
	BatchSize int
	PageSize  int // records per pull page; default 500
	// Level is the compression effort; Best (the zero value) by default,
	// since station links are slow and every byte costs more than CPU.
	// With Best, a batch of bigBatch changes or more (which only a fast
	// link gets) is compressed with Better: as small at that size, for a
	// fraction of the CPU.
	Level syncproto.Level
	// Ahead says whether a batch goes ahead while the county merges the
	// one before it (push): by default on a link the last push showed
	// fast.
	Ahead AheadMode
	// IdleTimeout fails a request that moved no byte for this long;
	// default syncproto.IdleTimeout.
	IdleTimeout time.Duration
	// RetryCap bounds the wait between failed rounds; default 1 min, so a
	// returning link is used within a minute.
	RetryCap time.Duration
	// Attach shapes attachments and their uploads (attach.go).
	Attach AttachConfig
	// Now is the station's clock; tests set a wrong one.
	Now    func() time.Time
	Logger *slog.Logger
}

// AheadMode is Config.Ahead.
type AheadMode int

// Ahead modes.
const (
	AheadOnFastLink AheadMode = iota
	AheadAlways
	AheadNever
)

func (c *Config) setDefaults() {
	if c.SyncInterval <= 0 {
		c.SyncInterval = time.Minute
	}
	if c.PageSize <= 0 {
		c.PageSize = 500
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = syncproto.IdleTimeout
	}
	if c.RetryCap <= 0 {
		c.RetryCap = time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Agent is one station.
type Agent struct {
	cfg    Config
	Store  *Store
	logger *slog.Logger

	mu    sync.Mutex // one sync round at a time
	nudge chan struct{}
	key   ed25519.PrivateKey // set through setKey, with a.mu held once the agent runs
	// hasKey mirrors key != nil for Enrolled, which the pages call
	// without a.mu while the service may be enrolling.
	hasKey atomic.Bool
	client *syncproto.Client
	// enrollPin is the pin of the enrollment in progress; learnedPin the
	// full fingerprint it matched (pin.go).
	enrollPin  string
	pinMu      sync.Mutex
	learnedPin string
	// upBps is the upload rate the last push achieved (bytes/s over its
	// round trip less the county's own time, server_ms) and perChange its
	// compressed bytes per change; 0 until a push has been timed. Guarded
	// by mu.
	upBps, perChange float64
	// live holds what a config reload changes (config.go).
	live liveConfig
	// files is the attachments' blob store and upload state (attach.go).
	files attachState
	// bg is every goroutine the agent starts (Run's, WatchConfig's): they
	// end at Close, which waits for them before it closes the store.
	bg background.Group
}

// Open opens the station's store in cfg.DataDir.
func Open(ctx context.Context, cfg Config) (*Agent, error) {
	cfg.setDefaults()
	if cfg.DataDir == "" {
		return nil, errors.New("agent: no data directory")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	logger := cfg.Logger.With("subsystem", "agent")
	// The folder, the database, the key, the config and the logs hold the
	// register: private to the service account, also those an older
	// release made 0755/0644. A file another account owns is reported,
	// not fatal: `station-agent doctor` says how to fix it.
	if err := fileperm.Dir(cfg.DataDir); err != nil {
		logger.Warn("data directory not fully private", "dir", cfg.DataDir, "err", err)
	}
	st, err := OpenStore(ctx, filepath.Join(cfg.DataDir, "station.db"), cfg.Now)
	if err != nil {
		return nil, openError(cfg.DataDir, err)
	}
	a := &Agent{cfg: cfg, Store: st, logger: logger, nudge: make(chan struct{}, 1)}
	if err := a.loadKey(); err != nil {
		st.Close()
		return nil, err
	}
	return a, nil
}

// Close stops Run and the config watch, waits for them, and closes the
// store; it returns the first error.
func (a *Agent) Close() error {
	err := a.bg.Close()
	if a.client != nil {
		a.client.CloseIdle()
	}
	if cerr := a.Store.Close(); err == nil {
		err = cerr
	}
	return err
}

func (a *Agent) keyPath() string { return filepath.Join(a.cfg.DataDir, "station.key") }

func (a *Agent) loadKey() error {
	b, err := os.ReadFile(a.keyPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read station key: %w", err)
	}
	if len(b) != ed25519.PrivateKeySize {
		return fmt.Errorf("station key %s is damaged (%d bytes)", a.keyPath(), len(b))
	}
	a.setKey(ed25519.PrivateKey(b))
	return nil
}

// Enrolled reports whether the station has an identity.
func (a *Agent) Enrolled(ctx context.Context) bool {
	return a.hasKey.Load() && a.Store.text(ctx, metaStationID) != ""
}

// ensureKey loads the station key, or makes and saves one if there is
// none. A key left by an earlier attempt (or by `station-agent enroll`
// beside the service, which kept an enrollment for later) is used again:
// if that attempt's answer was lost, the county already holds this key and
// answers with the same identity, where a new key would find the code used;
// and a kept enrollment code is sealed with it (enrollater.go). Called with
// a.mu held.
func (a *Agent) ensureKey() error {
	if a.key != nil {
		return nil
	}
	if err := a.loadKey(); err != nil || a.key != nil {
		return err
	}
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		return fmt.Errorf("make station key: %w", err)
	}
	if err := atomicfile.Write(a.keyPath(), k, 0o600); err != nil {
		return fmt.Errorf("save station key: %w", err)
	}
	a.setKey(k)
	return nil
}

func (a *Agent) setKey(k ed25519.PrivateKey) {
	a.key = k
	a.hasKey.Store(k != nil)
}
