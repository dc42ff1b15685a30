// Package agent is the station service: it keeps the village's records in
// a local SQLite store that works with no network, and syncs them with the
// county server whenever a link gets through.
package agent

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"stationsync/internal/atomicfile"
	"stationsync/internal/failpoint"
	"stationsync/internal/fileperm"
	"stationsync/internal/hlc"
	"stationsync/internal/records"
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
	// enrolPin is the pin of the enrolment in progress; learnedPin the
	// full fingerprint it matched (pin.go).
	enrolPin   string
	pinMu      sync.Mutex
	learnedPin string
	// upBps is the upload rate the last push achieved (bytes/s over its
	// round trip less the county's own time, server_ms) and perChange its
	// compressed bytes per change; 0 until a push has been timed. Guarded
	// by mu.
	upBps, perChange float64
	// live holds what a config reload changes (config.go).
	live liveConfig
}

// Batch sizes when Config.BatchSize is zero.
const (
	defaultBatch = 1000
	minBatch     = 100
	// maxBatch bounds what the county holds in memory for one push (about
	// 6 MB of visit JSON).
	maxBatch = 10000
	// linkTarget is the upload time one push aims at: long enough that a
	// 2G round trip (0.6–2 s) costs little, short enough that a dropped
	// link loses little.
	linkTarget = 8 * time.Second
	// aheadBatch is the batch size on a fast link, where one batch goes
	// ahead while the county merges the one before (push): small enough
	// that a large backlog makes several turns, so that the station and
	// the county work at the same time, large enough to compress well.
	// Measured on the 10,000-visit catch-up: 2,000 → 25,000 records/s,
	// 3,400 → 26,100, 5,000 → 23,300.
	aheadBatch = 3400
	// bigBatch is the batch size from which Better compresses visits as
	// well as Best (measured: 1 % larger at 1,000 changes, 0.4 % at 2,000,
	// 1.5 % smaller at 10,000) for a third of the CPU time or less.
	bigBatch = 2000
)

// level is the compression effort for a batch of n changes.
func (a *Agent) level(n int) syncproto.Level {
	if a.cfg.Level == syncproto.Best && n >= bigBatch {
		return syncproto.Better
	}
	return a.cfg.Level
}

// batchSize is the number of changes of the next push. Larger batches cost
// fewer round trips and compress better (zstd finds more repeats in a
// larger window), so on a fast link the backlog goes up in a few large
// pushes; on 2G a push carries about linkTarget of upload.
func (a *Agent) batchSize() int {
	switch {
	case a.cfg.BatchSize > 0:
		return a.cfg.BatchSize
	case a.upBps <= 0 || a.perChange <= 0:
		return defaultBatch
	case a.fastLink():
		return aheadBatch
	}
	return int(max(minBatch, min(maxBatch, a.linkBatch())))
}

// linkBatch is the number of changes the link carried in linkTarget at the
// last push's pace.
func (a *Agent) linkBatch() float64 { return a.upBps * linkTarget.Seconds() / a.perChange }

// fastLink reports whether the last push showed a link that would carry
// maxBatch changes within linkTarget.
func (a *Agent) fastLink() bool {
	return a.upBps > 0 && a.perChange > 0 && a.linkBatch() >= maxBatch
}

// goAhead reports whether the next batch goes ahead of the county's answer
// to the one in flight.
func (a *Agent) goAhead() bool {
	switch a.cfg.Ahead {
	case AheadAlways:
		return true
	case AheadNever:
		return false
	}
	return a.fastLink()
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

// Close closes the store.
func (a *Agent) Close() error {
	if a.client != nil {
		a.client.CloseIdle()
	}
	return a.Store.Close()
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
// beside the service, which kept an enrolment for later) is used again:
// if that attempt's answer was lost, the county already holds this key and
// answers with the same identity, where a new key would find the code used;
// and a kept enrolment code is sealed with it (enrollater.go). Called with
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

// Enroll exchanges a one-time code for a station identity. The key pair is
// made here; the private key is written, readable by the service account
// only, before the county ever sees the public one.
//
// If records were made before enrolment, they stay in the outbox, and
// nothing is synced, until a person has seen the county's name and
// confirmed it (ConfirmEnrolment, confirm.go): a wrong address or code must
// not send a village's register, ID numbers and all, to a county that is
// not theirs.
func (a *Agent) Enroll(ctx context.Context, serverURL, code string) (*syncproto.EnrollResponse, error) {
	if a.Enrolled(ctx) {
		return nil, errors.New("这台电脑已经注册为站点 " + a.Store.text(ctx, metaStationID) + "，无需再次注册")
	}
	// One enrolment at a time: the pages and the service's kept enrolment
	// must not make two keys, one of them never enrolled.
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.Enrolled(ctx) {
		return nil, errors.New("这台电脑已经注册为站点 " + a.Store.text(ctx, metaStationID) + "，无需再次注册")
	}
	if err := a.ensureKey(); err != nil {
		return nil, err
	}
	priv := a.key
	pub := priv.Public().(ed25519.PublicKey)
	// The code may carry the county CA's fingerprint (pin.go).
	code, pin := syncproto.SplitEnrolCode(code)
	if err := checkPinnedURL(serverURL, pin); err != nil {
		return nil, err
	}
	a.enrolPin = pin
	defer func() { a.enrolPin = "" }()
	c := a.newClient(serverURL, "", nil)
	host, _ := os.Hostname()
	resp, err := c.Enroll(ctx, syncproto.EnrollRequest{Code: code, PublicKey: pub, Hostname: host, AgentVersion: Version})
	if err != nil {
		return nil, pinError(err)
	}
	err = a.Store.db.Tx(ctx, func(tx *sql.Tx) error {
		for k, v := range map[string]string{"station_id": resp.StationID, "village": resp.Village, "county": resp.County, "server_url": serverURL,
			"county_name": resp.CountyName, "township_name": resp.TownshipName, "village_name": resp.VillageName} {
			if err := setMetaTx(tx, k, v); err != nil {
				return err
			}
		}
		if fp := a.learned(); pin != "" && fp != "" {
			if err := setMetaTx(tx, "tls_pin", fp); err != nil {
				return err
			}
		}
		// Records entered before enrolment take the village now; their
		// changes are still queued and carry no village of their own.
		var made int64
		for _, k := range records.Kinds {
			r, err := tx.Exec(`UPDATE `+records.SchemaOf(k).Table+` SET village = ? WHERE village = ''`, resp.Village)
			if err != nil {
				return err
			}
			n, _ := r.RowsAffected()
			made += n
		}
		return holdForConfirmation(tx, made) // confirm.go
	})
	if err != nil {
		return nil, fmt.Errorf("save enrolment: %w", err)
	}
	a.setKey(priv)
	a.client = nil
	a.logger.Info("station enrolled", "station", resp.StationID, "village", resp.Village)
	return resp, nil
}

func (a *Agent) newClient(serverURL, station string, key ed25519.PrivateKey) *syncproto.Client {
	c := syncproto.NewClientIdle(serverURL, a.cfg.IdleTimeout)
	c.Station, c.Key, c.Logger = station, key, a.logger.With("subsystem", "http")
	c.UsePin(a.pin(), a.learnPin) // pin.go
	if failpoint.Enabled {
		c.HTTP.Transport = failpointTransport{c.HTTP.Transport}
	}
	clock := a.Store.Clock()
	c.Now = clock.Physical
	c.OnServerTime = func(server time.Time, rtt time.Duration) {
		// The server stamped its answer about half a round trip ago.
		clock.SetOffset(server.Add(rtt / 2).Sub(a.cfg.Now()))
	}
	return c
}

func (a *Agent) syncClient(ctx context.Context) (*syncproto.Client, error) {
	if !a.Enrolled(ctx) {
		return nil, ErrNotEnrolled
	}
	// A reloaded config may have moved the county to a new address.
	server, err := getMeta(ctx, a.Store.db.R, metaServerURL)
	if err != nil {
		return nil, err
	}
	if a.client == nil || a.client.BaseURL != server {
		station, err := getMeta(ctx, a.Store.db.R, metaStationID)
		if err != nil {
			return nil, err
		}
		a.client = a.newClient(server, station, a.key)
	}
	return a.client, nil
}

// ErrNotEnrolled says the station has no identity yet; records are kept
// and go up once it enrols.
var ErrNotEnrolled = errors.New("站点尚未注册：可以先离线录入，联网后再完成注册")

// Nudge asks for a sync round soon, e.g. right after a local change.
func (a *Agent) Nudge() {
	select {
	case a.nudge <- struct{}{}:
	default:
	}
}

// SyncResult summarises one round.
type SyncResult struct {
	Pushed, Rejected, Pulled, Skipped int
}

// SyncOnce runs one round: push everything queued, then pull the county's
// feed. It returns nil only when every queued change was acknowledged and
// the feed was read to its end.
func (a *Agent) SyncOnce(ctx context.Context) (SyncResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	res, err := a.syncOnce(ctx)
	now := time.Now().UnixMilli()
	meta := putMeta(putMeta(metaValues{}, metaLastAttemptAt, now), metaClockOffset, a.Store.Clock().Offset().Milliseconds())
	if err != nil {
		putMeta(putMeta(meta, metaLastError, err.Error()), metaLastErrorAt, now)
	} else {
		putMeta(putMeta(meta, metaLastOKAt, now), metaLastError, "")
	}
	if merr := a.Store.SetMeta(context.Background(), meta); merr != nil && err == nil {
		err = merr
	}
	return res, err
}

func (a *Agent) syncOnce(ctx context.Context) (SyncResult, error) {
	var res SyncResult
	if err := a.Store.checkSyncState(ctx); err != nil {
		return res, err
	}
	c, err := a.syncClient(ctx)
	if err != nil {
		return res, err
	}
	if unconfirmed, err := getMeta(ctx, a.Store.db.R, metaUnconfirmed); err != nil {
		return res, err
	} else if unconfirmed != "" {
		// Neither up nor down until a person has confirmed the county
		// (confirm.go): a wrong county's feed has no place here either.
		return res, ErrUnconfirmed
	}
	if err := a.push(ctx, c, &res); err != nil {
		return res, err
	}
	if err := a.pull(ctx, c, &res); err != nil {
		return res, err
	}
	// A clock that ran far ahead before the station ever heard from the
	// county stamped its changes in the future. Once all of them are
	// acknowledged nothing depends on those values, and the clock may
	// come back to the county's time.
	if n, _ := a.Store.Pending(ctx); n == 0 {
		clock := a.Store.Clock()
		if clock.Last().WallMs() > clock.Physical().Add(syncproto.SkewWindow).UnixMilli() {
			a.logger.Warn("station clock was ahead; HLC reset to the county's time", "last", clock.Last())
			clock.Reset()
			a.Store.SetMeta(ctx, putMeta(metaValues{}, metaHLC, uint64(clock.Last())))
		}
	}
	return res, nil
}

// flight is a sealed batch on its way to the county; pr and err are set
// when done is closed.
type flight struct {
	epoch   string
	rows    []outboxRow
	version int
	size    int
	sent    time.Time
	// behind: sent while an earlier batch was unanswered. The county may
	// see it first and answer that it leaves a gap; that is no loss.
	behind bool
	done   chan struct{}
	pr     *syncproto.PushResult
	err    error
}

func (f *flight) lastSeq() uint64 { return f.rows[len(f.rows)-1].c.Seq }

// send reads the queued changes after seq after (0: from the first), seals
// them and sends them in the background. It returns nil when none are
// queued.
func (a *Agent) send(ctx context.Context, c *syncproto.Client, after uint64) (*flight, error) {
	epoch, rows, err := a.Store.nextBatch(ctx, a.batchSize(), after)
	if err != nil || len(rows) == 0 {
		// Changes of an older epoch (before a rotation) would be stuck:
		// there are none, since rotation renumbers them all.
		return nil, err
	}
	village, err := getMeta(ctx, a.Store.db.R, metaVillage)
	if err != nil {
		return nil, err
	}
	pending, _ := a.Store.Pending(ctx)
	b := &syncproto.Batch{
		Version: c.Speaks(), Station: c.Station, Epoch: epoch, Village: village,
		SentHLC: uint64(a.Store.Clock().Now()), Pending: pending, AgentVersion: Version,
		Changes: make([]syncproto.Change, len(rows)),
	}
	for i := range rows {
		b.Changes[i] = rows[i].c
	}
	env, err := syncproto.SealBatch(b, a.key, a.level(len(rows)))
	if err != nil {
		return nil, fmt.Errorf("seal batch: %w", err)
	}
	f := &flight{epoch: epoch, rows: rows, version: b.Version, size: len(env), sent: time.Now(), behind: after > 0, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		f.pr, f.err = c.Push(ctx, env)
	}()
	return f, nil
}

// acceptable reports whether f's answer may acknowledge its changes: it
// names f's epoch, and the county holds no change of it this database
// never made.
func (a *Agent) acceptable(ctx context.Context, f *flight) (bool, error) {
	if f.err != nil || f.pr.Epoch != f.epoch {
		return false, nil
	}
	last, err := a.Store.maxSeq(ctx)
	return err == nil && f.pr.HWM <= last, err
}

// push sends the queued changes until the county has acknowledged all of
// them. On a fast link one batch goes ahead: the next is read, sealed and
// sent while the county merges the one before, and the station saves an
// answer while the county merges the next, so that the two sides work at
// the same time instead of taking turns.
func (a *Agent) push(ctx context.Context, c *syncproto.Client, res *SyncResult) error {
	var ahead *flight
	defer func() {
		// Nothing is left running when the round ends; an unread answer
		// acknowledges nothing and its changes stay queued.
		if ahead != nil {
			<-ahead.done
		}
	}()
	for {
		cur := ahead
		ahead = nil
		if cur == nil {
			f, err := a.send(ctx, c, 0)
			if err != nil || f == nil {
				return err
			}
			cur = f
		}
		if a.goAhead() {
			f, err := a.send(ctx, c, cur.lastSeq())
			if err != nil {
				<-cur.done
				return err
			}
			ahead = f
		}
		<-cur.done
		if ahead != nil {
			ok, err := a.acceptable(ctx, cur)
			if err != nil {
				return err
			}
			if !ok {
				// Whatever this answer leads to (a new epoch, a batch sealed
				// again, the end of the round), the batch behind it is
				// settled first: acknowledged if the county took it,
				// dropped if not.
				<-ahead.done
				behind := ahead
				ahead = nil
				if ok, err := a.acceptable(ctx, behind); err != nil {
					return err
				} else if ok {
					if err := a.acknowledge(ctx, behind, res); err != nil {
						return err
					}
				}
			}
		}
		if err := a.answered(ctx, c, cur, res); err != nil {
			return err
		}
	}
}

// answered deals with the county's answer to f.
func (a *Agent) answered(ctx context.Context, c *syncproto.Client, f *flight, res *SyncResult) error {
	err := f.err
	if err == nil && !f.behind {
		// A busy county is not a slow link: without its own time taken
		// out, a county merging other stations' backlogs made every
		// station fall back to small batches, one at a time.
		link := time.Since(f.sent) - time.Duration(f.pr.ServerMs)*time.Millisecond
		a.upBps = float64(f.size) / max(link.Seconds(), 1e-3)
		a.perChange = float64(f.size) / float64(len(f.rows))
	}
	if syncproto.IsVersionMismatch(err) && c.Speaks() != f.version {
		// A county not upgraded yet: the batch is sealed again in its
		// version.
		return nil
	}
	var pe *syncproto.Error
	if errors.As(err, &pe) && pe.Code == syncproto.CodeEpochReused {
		// This database was restored from an older copy and reused seqs
		// for new changes. The county verified the changes up to HWM
		// as its own; everything after is renumbered and sent anew.
		if err := a.Store.dropThrough(ctx, f.epoch, pe.HWM); err != nil {
			return err
		}
		ne, err := a.Store.rotateEpoch(ctx)
		if err != nil {
			return err
		}
		a.logger.Warn("station database was restored from an older copy; changes renumbered under a new epoch", "old", f.epoch, "new", ne, "agreed_hwm", pe.HWM)
		return nil
	}
	if errors.As(err, &pe) && pe.Code == syncproto.CodeGap {
		if f.behind {
			// It reached the county before the batch in front of it; it
			// goes again after that one.
			return nil
		}
		return a.handleGap(ctx, pe.HWM, f.rows[0].c.Seq)
	}
	if err != nil {
		return err
	}
	failpoint.Inject(failpoint.AgentAfterAnswerRead)
	if f.pr.Epoch != f.epoch {
		return fmt.Errorf("push: answer names epoch %q, sent %q", f.pr.Epoch, f.epoch)
	}
	last, err := a.Store.maxSeq(ctx)
	if err != nil {
		return err
	}
	if f.pr.HWM > last {
		// The county holds changes of this epoch this database never
		// made: it was restored from an older copy. Acknowledging now
		// would drop new changes as "duplicates".
		ne, err := a.Store.rotateEpoch(ctx)
		if err != nil {
			return err
		}
		a.logger.Warn("station database was restored from an older copy; changes renumbered under a new epoch", "old", f.epoch, "new", ne, "county_hwm", f.pr.HWM)
		return nil
	}
	return a.acknowledge(ctx, f, res)
}

// acknowledge saves an acceptable answer: the changes it names leave the
// outbox.
func (a *Agent) acknowledge(ctx context.Context, f *flight, res *SyncResult) error {
	pr := f.pr
	if pr.ServerHLC != 0 {
		a.Store.Clock().Observe(hlc.Timestamp(min(pr.ServerHLC, uint64(hlc.FromTime(a.Store.Clock().Physical().Add(syncproto.SkewWindow))))))
	}
	n, err := a.Store.ack(ctx, f.epoch, f.rows, pr)
	if err != nil {
		return err
	}
	failpoint.Inject(failpoint.AgentAfterAckSaved)
	for _, r := range pr.Results {
		if r.Status == syncproto.Rejected {
			res.Rejected++
			a.logger.Warn("county rejected a change", "seq", r.Seq, "code", r.Code, "reason", r.Reason)
		}
	}
	res.Pushed += n
	if n == 0 {
		return errors.New("push: the county's answer acknowledged no change")
	}
	return nil
}

// handleGap deals with a county whose high-water mark is below the first
// change still queued here.
//
// If the station still holds change hwm+1 it simply resumes there (a
// reordered delivery). If not, the county lost changes it had acknowledged
// (its database was restored from an older copy): the station queues its
// whole state again under a new epoch, so that what the county lost comes
// back instead of the station waiting forever.
func (a *Agent) handleGap(ctx context.Context, hwm, first uint64) error {
	if hwm+1 >= first {
		return fmt.Errorf("push: county expects change %d, station sent from %d", hwm+1, first)
	}
	n, err := a.Store.requeueAll(ctx)
	if err != nil {
		return err
	}
	a.logger.Error("county lost acknowledged changes (restored from an older copy?); the station's records are sent again", "county_hwm", hwm, "station_next", first, "requeued", n)
	return nil
}

func (a *Agent) pull(ctx context.Context, c *syncproto.Client, res *SyncResult) error {
	for {
		// A cursor read as zero would pull the whole feed again, over
		// records with changes the county has not seen yet.
		cursor, err := getMeta(ctx, a.Store.db.R, metaCursor)
		if err != nil {
			return err
		}
		feedEpoch, err := getMeta(ctx, a.Store.db.R, metaFeedEpoch)
		if err != nil {
			return err
		}
		pending, err := a.Store.Pending(ctx)
		if err != nil {
			return err
		}
		// The previous round's failure, if any, goes to the county's health
		// page; it is cleared by this round's success.
		if c.LastError, err = getMeta(ctx, a.Store.db.R, metaLastError); err != nil {
			return err
		}
		p, err := c.Pull(ctx, cursor, feedEpoch, a.cfg.PageSize, pending, Version)
		var pe *syncproto.Error
		if errors.As(err, &pe) && pe.Code == syncproto.CodeClockSkew {
			// The answer carried the county's time; the client has taken the
			// new offset, so one more try is signed with a corrected clock.
			p, err = c.Pull(ctx, cursor, feedEpoch, a.cfg.PageSize, pending, Version)
		}
		if err != nil {
			return err
		}
		applied, skipped, err := a.Store.applyPage(ctx, p)
		if err != nil {
			return fmt.Errorf("apply pulled page: %w", err)
		}
		failpoint.Inject(failpoint.AgentAfterPageApplied)
		res.Pulled += applied
		res.Skipped += skipped
		if !p.More {
			return nil
		}
		// A 紧急 visit saved during a long catch-up goes up before the next
		// page instead of after the last. It cannot overtake changes queued
		// before it: the county takes seqs strictly in order (PROTOCOL §3)
		// and a visit may name a person still queued, so push sends the
		// outbox from its lowest seq as always; what it skips is the wait.
		if a.Store.UrgentPending(ctx) > 0 {
			if err := a.push(ctx, c, res); err != nil {
				return err
			}
		}
	}
}

// Run syncs until ctx ends: after each local change (Nudge), every
// SyncInterval while all is well, and with capped, jittered backoff while
// the link or the county is down, so that the county's stations do not all
// return at the same second.
func (a *Agent) Run(ctx context.Context) error {
	failures := 0
	wait := time.Duration(0)
	a.sealKeptCode(ctx) // enrollater.go: a code an older release kept in clear
	go a.watchOutbox(ctx)
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-a.nudge:
			// Also while failing: a cadre saving a change is rare, and an
			// urgent visit should try the link at once.
			t.Stop()
		case <-t.C:
		}
		a.loadKeyEnrolledElsewhere(ctx) // config.go
		if !a.Enrolled(ctx) && a.enrolPending(ctx) {
			a.logger.Info("station enrolled from a kept enrolment")
		}
		if !a.Enrolled(ctx) || a.Store.text(ctx, metaUnconfirmed) != "" {
			// Unconfirmed: ConfirmEnrolment nudges the loop.
			wait = a.syncInterval()
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
		res, err := a.SyncOnce(rctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			failures++
			wait = syncproto.FullJitter(2*time.Second, a.cfg.RetryCap, failures)
			var pe *syncproto.Error
			if errors.As(err, &pe) && pe.RetryAfter > wait {
				wait = pe.RetryAfter
			}
			if failures == 1 || failures%20 == 0 {
				a.logger.Warn("sync failed; will retry", "err", err, "failures", failures, "next", wait.Round(time.Second))
			}
			continue
		}
		if failures > 0 {
			a.logger.Info("sync recovered", "after_failures", failures)
		}
		failures = 0
		if res.Pushed > 0 || res.Pulled > 0 {
			a.logger.Info("synced", "pushed", res.Pushed, "rejected", res.Rejected, "pulled", res.Pulled)
		}
		wait = a.syncInterval()
	}
}

// watchOutbox nudges a round when the outbox grows, also when the change
// was saved by another process on this PC (the command line beside the
// service, later the installer's tools).
func (a *Agent) watchOutbox(ctx context.Context) {
	// sqlite_sequence only grows, even when the outbox empties.
	const q = `SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0)`
	var last int64
	a.Store.db.R.QueryRowContext(ctx, q).Scan(&last)
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var id int64
		a.Store.db.R.QueryRowContext(ctx, q).Scan(&id)
		if id > last {
			a.Nudge()
		}
		last = id
	}
}

// Status is what `station-agent status` shows.
type Status struct {
	StationID     string `json:"station_id"`
	Village       string `json:"village"`
	Server        string `json:"server"`
	Enrolled      bool   `json:"enrolled"`
	Pending       int    `json:"pending"`
	Rejected      int    `json:"rejected"`
	Conflicts     int    `json:"conflicts"`
	LastOK        string `json:"last_successful_sync,omitempty"`
	LastAttempt   string `json:"last_attempt,omitempty"`
	LastError     string `json:"last_error,omitempty"`
	ClockOffsetMs int64  `json:"clock_offset_ms"`
	Epoch         string `json:"epoch"`
	// StorageError is set while the disk is full or the data folder
	// cannot be written; new records are refused until it clears.
	StorageError string `json:"storage_error,omitempty"`
	// Unconfirmed: enrolled, but records made before enrolment wait
	// until a person confirms the county in the pages (confirm.go).
	Unconfirmed bool   `json:"unconfirmed,omitempty"`
	County      string `json:"county,omitempty"`
	CountyName  string `json:"county_name,omitempty"`
	VillageName string `json:"village_name,omitempty"`
}

// Status reads the station's sync state.
func (a *Agent) Status(ctx context.Context) (Status, error) {
	r := metaReader{ctx: ctx, q: a.Store.db.R}
	st := Status{
		StationID: read(&r, metaStationID), Village: read(&r, metaVillage), Server: read(&r, metaServerURL),
		Enrolled: a.Enrolled(ctx), LastError: read(&r, metaLastError), Epoch: read(&r, metaEpoch),
		LastOK: msTime(read(&r, metaLastOKAt)), LastAttempt: msTime(read(&r, metaLastAttemptAt)),
		County: read(&r, metaCounty), CountyName: read(&r, metaCountyName), VillageName: read(&r, metaVillageName),
		ClockOffsetMs: read(&r, metaClockOffset),
	}
	st.Unconfirmed = st.Enrolled && read(&r, metaUnconfirmed) != ""
	if p := a.Store.StorageProblem(); p != nil {
		st.StorageError = p.Error()
	}
	if r.err != nil {
		return st, r.err
	}
	var err error
	if st.Pending, err = a.Store.Pending(ctx); err != nil {
		return st, err
	}
	rej, err := a.Store.Rejected(ctx)
	if err != nil {
		return st, err
	}
	st.Rejected = len(rej)
	st.Conflicts, err = a.Store.ConflictCount(ctx)
	return st, err
}

func msTime(ms int64) string {
	if ms == 0 {
		return ""
	}
	return time.UnixMilli(ms).Format(time.RFC3339)
}
