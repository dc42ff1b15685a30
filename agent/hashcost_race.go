//go:build race

package agent

// pinMemory is argon2id's memory in KiB. Under the race detector (tests
// only) it is lower for the reason server/hashcost_race.go gives; the
// release binary and the tests' built binaries use 32 MiB.
const pinMemory = 4 * 1024
