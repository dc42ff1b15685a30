//go:build !race

package agent

// pinMemory is argon2id's memory in KiB: a station PC is old, and a PIN
// is checked once per log-in.
const pinMemory = 32 * 1024
