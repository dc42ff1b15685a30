package syncproto

import "crypto/ed25519"

// FixtureKey is the station key of the test fixtures and of the examples in
// PROTOCOL.md: testdata/v1/envelope.golden and pull_request.golden are
// signed with it. It is a test key, derived from a public seed.
func FixtureKey() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed([]byte("stationsync protocol test key 01"))
}
