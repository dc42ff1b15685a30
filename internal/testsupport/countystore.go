package testsupport

import (
	"context"
	"path/filepath"
	"testing"

	"stationsync/internal/pgdb/pgtest"
	"stationsync/server"
)

// OpenCountyStore opens an empty county store for county, closed when the
// test ends: on a PostgreSQL database of the test's own when the run asks
// for it (STATIONSYNC_TEST_STORE=postgres, pgtest.StoreEnv), else on a
// SQLite file. Suites that open their store through it run on both.
func OpenCountyStore(t testing.TB, county string) *server.CountyStore {
	t.Helper()
	ctx := context.Background()
	var st *server.CountyStore
	var err error
	if pgtest.Postgres() {
		st, err = server.OpenPostgres(ctx, pgtest.NewSchema(t), t.TempDir(), county)
	} else {
		st, err = server.OpenSQLite(ctx, filepath.Join(t.TempDir(), "county.db"), county)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
