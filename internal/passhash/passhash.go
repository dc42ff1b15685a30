// Package passhash hashes the station cadres' PINs and the county staff's
// passwords with argon2id, as PHC strings that carry their own parameters,
// so a hash made with one cost still verifies after the cost changes.
//
// Every hash costs its memory parameter (32–64 MiB here) for as long as it
// runs, so the process counts them: Stats tells how many ran and the most
// that ever ran at once, which the login tests and a health page read.
// Bounding that number is the caller's job (internal/loginguard.Gate).
package passhash

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
)

// argon2id parameters after RFC 9106's second recommended option; memory is
// the caller's, since a station PC is older than the county's server.
const (
	time    = 3
	threads = 2
	keyLen  = 32
)

// Stats counts this process's hashes since it started (or since
// ResetStats).
type Stats struct {
	Hashes     int64 // Hash calls
	Verifies   int64 // Verify calls that ran argon2id
	Mismatches int64 // of those, the ones whose secret did not match
	InFlight   int64 // argon2id runs going on now
	PeakFlight int64 // the most that ran at once
}

var stats struct{ hashes, verifies, mismatches, inFlight, peak atomic.Int64 }

// ReadStats returns the counters.
func ReadStats() Stats {
	return Stats{Hashes: stats.hashes.Load(), Verifies: stats.verifies.Load(), Mismatches: stats.mismatches.Load(),
		InFlight: stats.inFlight.Load(), PeakFlight: stats.peak.Load()}
}

// ResetStats zeroes the counters, the peak to what runs now.
func ResetStats() {
	stats.hashes.Store(0)
	stats.verifies.Store(0)
	stats.mismatches.Store(0)
	stats.peak.Store(stats.inFlight.Load())
}

func idKey(secret, salt []byte, t, m uint32, p uint8, n uint32) []byte {
	cur := stats.inFlight.Add(1)
	defer stats.inFlight.Add(-1)
	for {
		old := stats.peak.Load()
		if cur <= old || stats.peak.CompareAndSwap(old, cur) {
			break
		}
	}
	return argon2.IDKey(secret, salt, t, m, p, n)
}

// Hash returns the argon2id PHC string of secret with memoryKiB of memory.
func Hash(secret string, memoryKiB uint32) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("passhash: salt: %w", err)
	}
	stats.hashes.Add(1)
	key := idKey([]byte(secret), salt, time, memoryKiB, threads, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, memoryKiB, time, threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether secret matches the PHC string, in constant time
// for the comparison; a malformed string matches nothing.
func Verify(phc, secret string) bool {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	stats.verifies.Add(1)
	got := idKey([]byte(secret), salt, t, m, p, uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		stats.mismatches.Add(1)
		return false
	}
	return true
}
