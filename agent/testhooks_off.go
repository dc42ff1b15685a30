//go:build !stationsync_test

package agent

import "io/fs"

// testMigrations is the store's migrations as they are: only a build with
// -tags stationsync_test may play an older schema (testhooks_on.go).
func testMigrations(sub fs.FS) fs.FS { return sub }
