// Package herd is the herd of issue 16: N stations, each a real protocol
// client (syncproto.Client, its own Ed25519 key, enrolled with a real
// code), each with a backlog of generated changes (internal/gen), all
// coming back at the same moment after an outage against a real
// `county-server serve` process on 127.0.0.1, on each of the county's
// stores: SQLite in its data directory, and PostgreSQL (`serve --db`, a
// fresh database on the test server, internal/pgdb/pgtest). Each pushes
// its backlog, then reads its village's feed to the end, honouring
// 429/503 Retry-After as the agent does (syncproto.RoundWait). Afterwards the county's
// database is counted station by station: every change once, none lost,
// none twice.
//
// `make herd` runs it at full size (3,000 stations × 100 changes; the
// environment sets other sizes, see herd_test.go) and prints the table;
// `go test ./bench/herd/` runs the bounded form (200 × 20, on both
// stores) that `make test` runs, which asserts counts and bounded memory,
// never times.
//
// The backlogs are generated and sealed during the "outage" into a spool
// file per station and read back one batch at a time, so the load
// generator holds a batch per station in flight at most, never every
// station's records.
package herd
