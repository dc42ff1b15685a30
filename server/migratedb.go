package server

import "io/fs"

// PostgresMigrationFS is the PostgreSQL schema's migration files (NNNN_name.sql),
// for tools that prepare or inspect a PostgreSQL county database without
// opening it as a store: `county-server migrate-db` applies them to an
// empty database before copying a SQLite county into it (opening a store
// would write a feed epoch of its own first), and `doctor` compares them
// with what the database has applied without upgrading it.
func PostgresMigrationFS() fs.FS { return mustSub(migrationFS, "migrations_postgres") }
