//go:build race

package server

// passwordMemory is argon2id's memory in KiB for staff passwords. Under
// the race detector (tests only: nothing shipped is built with -race)
// argon2 at the real 64 MiB made `make test`'s page tests, which create
// and log in accounts by the dozen, run past their timeout; the logic
// under test (reserve, bound, settle, lockout) does not depend on the
// cost. The real cost is tested without -race: tests/e2e measures the
// memory of the real binary under a login burst, and the benchmarks time
// a hash.
const passwordMemory = 4 * 1024
