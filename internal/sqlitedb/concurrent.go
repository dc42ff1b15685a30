package sqlitedb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"stationsync/internal/atomicfile"
	"stationsync/internal/fileperm"
)

// pingWriter makes the writer's first connection, retrying while another
// process holds the file. The connection's PRAGMA journal_mode=WAL needs an
// exclusive lock; on a brand-new file another process's connection
// switching to WAL at the same moment makes SQLite answer SQLITE_BUSY at
// once, without waiting for busy_timeout (the two would deadlock waiting
// for each other), so the wait is ours to do.
func pingWriter(ctx context.Context, w *sql.DB) error {
	for attempt := 0; ; attempt++ {
		err := w.PingContext(ctx)
		if err == nil || !IsBusy(err) || attempt >= 50 {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(10+attempt*10) * time.Millisecond):
		}
	}
}

// copyBefore writes the safety copy at backup through a name of its own
// and renames it into place: two processes upgrading one database at once
// would otherwise remove and write the same file under each other
// ("disk I/O error: no such file or directory").
func copyBefore(ctx context.Context, w *sql.DB, backup string) error {
	var r [6]byte
	rand.Read(r[:])
	tmp := backup + "." + hex.EncodeToString(r[:]) + ".tmp"
	// Private from its first byte (perm.go): VACUUM INTO would make it
	// 0644, and SQLite accepts an empty file to copy into.
	if err := fileperm.Create(tmp); err != nil {
		return fmt.Errorf("copy database before migrating: %w", err)
	}
	if _, err := w.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("copy database before migrating (is the disk full?): %w", err)
	}
	if err := atomicfile.Rename(tmp, backup); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("copy database before migrating: %w", err)
	}
	return nil
}
