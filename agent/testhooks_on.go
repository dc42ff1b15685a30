//go:build stationsync_test

package agent

import (
	"io/fs"
	"os"

	"stationsync/internal/sqlitedb"
)

// testMigrations lets the power-cut test play an older release: with
// STATIONSYNC_TEST_MIGRATIONS_THROUGH set, the schema stops at that
// migration, so that the next start is an upgrade. Test builds only.
func testMigrations(sub fs.FS) fs.FS {
	if last := os.Getenv("STATIONSYNC_TEST_MIGRATIONS_THROUGH"); last != "" {
		return sqlitedb.MigrationsThrough(sub, last)
	}
	return sub
}
