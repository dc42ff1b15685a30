//go:build !race

package server

// passwordMemory is argon2id's memory in KiB for staff passwords.
const passwordMemory = 64 * 1024
