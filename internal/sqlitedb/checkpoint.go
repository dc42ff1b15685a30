package sqlitedb

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"
)

// checkpointer copies the WAL back into the database file on its own
// connection, so that the writer's commits do not do it. With SQLite's
// automatic checkpoint the commit that crosses 1,000 WAL pages copies them
// all and syncs the database file before it returns: a county batch of
// 1,000 new visits crosses it every time. A PASSIVE checkpoint runs beside
// the writer (it takes the checkpoint lock, not the write lock) on the
// other core.
type checkpointer struct {
	conn *sql.DB
	kick chan struct{}
	done chan struct{}
	stop context.CancelFunc
	once sync.Once
}

// checkpointEvery is how often the checkpointer runs when no commit wakes
// it, and checkpointGap the least time between two runs: a county taking
// many small pushes need not sync its database file after every one.
const (
	checkpointEvery = 5 * time.Second
	checkpointGap   = 200 * time.Millisecond
)

// BackgroundCheckpoints turns off the writer's automatic checkpoints and
// runs them in the background instead. For the county, whose batches are
// large; a station's commits are small and keep the automatic checkpoint.
func (db *DB) BackgroundCheckpoints() error {
	q := url.Values{}
	q.Set("_busy_timeout", "10000")
	q.Set("_journal_mode", "WAL")
	c, err := sql.Open("sqlite3", "file:"+db.Path+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("open checkpoint connection: %w", err)
	}
	c.SetMaxOpenConns(1)
	c.SetMaxIdleConns(1)
	c.SetConnMaxLifetime(0)
	if err := c.Ping(); err != nil {
		c.Close()
		return fmt.Errorf("open checkpoint connection: %w", err)
	}
	if _, err := db.W.Exec(`PRAGMA wal_autocheckpoint = 0`); err != nil {
		c.Close()
		return fmt.Errorf("turn off automatic checkpoints: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cp := &checkpointer{conn: c, kick: make(chan struct{}, 1), done: make(chan struct{}), stop: cancel}
	db.cp = cp
	go cp.run(ctx)
	return nil
}

func (cp *checkpointer) run(ctx context.Context) {
	defer close(cp.done)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-cp.kick:
		case <-t.C:
		}
		// busy: a reader or writer kept it from finishing; log: frames in
		// the WAL; moved: frames copied into the database file.
		var busy, log, moved int
		if err := cp.conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &moved); err != nil {
			if ctx.Err() == nil {
				slog.Warn("background checkpoint failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(checkpointGap):
		}
	}
}

// committed wakes the checkpointer after a commit.
func (cp *checkpointer) committed() {
	select {
	case cp.kick <- struct{}{}:
	default:
	}
}

func (cp *checkpointer) close() error {
	var err error
	cp.once.Do(func() {
		cp.stop()
		<-cp.done
		err = cp.conn.Close()
	})
	return err
}
