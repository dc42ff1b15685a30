// Package testsupport is what the suites under tests/ share, the way
// litestream keeps MustOpenDB(tb) in internal/testingutil: building the
// two binaries once, a county (in this process or as a county-server
// process) and stations (in this process or through station-agent),
// enrolling, waiting until sync settles, SQLite's own checks, and the
// oracle that the records are compared with from outside the system.
//
// Every process, server, link and goroutine it starts is stopped by
// t.Cleanup, also when the test fails or calls t.Fatal.
//
// Only _test.go files import it (imports_test.go checks), so nothing of
// it ships in the station or county binaries.
package testsupport
