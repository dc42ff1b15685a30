package syncproto

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

const pullURI = "/v1/pull?after=0&agent=1.0.0&feed=&limit=500&pending=0"

func TestSignRequestFormat(t *testing.T) {
	at := time.UnixMilli(1795649989280)
	h := SignRequest(FixtureKey(), testStation, "GET", pullURI, at, nil)
	prefix := "Stationsync-Ed25519 station=" + testStation + ",ts=1795649989280,sig="
	if !strings.HasPrefix(h, prefix) {
		t.Fatalf("Authorization %q does not start %q", h, prefix)
	}
	sig, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(h, prefix))
	if err != nil || len(sig) != ed25519.SignatureSize {
		t.Fatalf("sig: %d bytes, %v", len(sig), err)
	}
	// The signing string, spelled out: a verifier in another language must
	// be able to rebuild it from this test.
	empty := sha256.Sum256(nil)
	msg := "stationsync-v1\nGET\n" + pullURI + "\n1795649989280\n" + hex.EncodeToString(empty[:])
	if !ed25519.Verify(fixturePub(), []byte(msg), sig) {
		t.Fatalf("signature does not cover %q", msg)
	}
	// Ed25519 is deterministic: the same request signs the same.
	if h2 := SignRequest(FixtureKey(), testStation, "GET", pullURI, at, nil); h2 != h {
		t.Fatalf("signing is not deterministic")
	}
}

func TestSignParseVerify(t *testing.T) {
	at := time.UnixMilli(1795649989280)
	body := []byte("SSB1 some envelope")
	h := SignRequest(FixtureKey(), testStation, "POST", "/v1/push", at, body)
	a, err := ParseAuth(h)
	if err != nil {
		t.Fatal(err)
	}
	if a.Station != testStation || !a.At.Equal(at) {
		t.Fatalf("parsed station %q at %v", a.Station, a.At)
	}
	if !a.Verify(fixturePub(), "POST", "/v1/push", body) {
		t.Fatal("a good signature does not verify")
	}
	other := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
	for _, tc := range []struct {
		name, method, path string
		body               []byte
		pub                ed25519.PublicKey
	}{
		{"tampered method", "GET", "/v1/push", body, nil},
		{"tampered path", "POST", "/v1/pull", body, nil},
		{"path with a query added", "POST", "/v1/push?x=1", body, nil},
		{"tampered body", "POST", "/v1/push", []byte("SSB1 some envelopf"), nil},
		{"body dropped", "POST", "/v1/push", nil, nil},
		{"another station's key", "POST", "/v1/push", body, other},
		{"no key", "POST", "/v1/push", body, ed25519.PublicKey{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub := tc.pub
			if pub == nil {
				pub = fixturePub()
			}
			if a.Verify(pub, tc.method, tc.path, tc.body) {
				t.Fatal("verified")
			}
		})
	}

	// A changed time, query or station in the header itself.
	for _, tc := range []struct{ name, from, to string }{
		{"tampered time", "ts=1795649989280", "ts=1795649989281"},
		{"time moved an hour", "ts=1795649989280", "ts=1795653589280"},
		{"time with a plus sign", "ts=1795649989280", "ts=+1795649989280"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseAuth(strings.Replace(h, tc.from, tc.to, 1))
			if err != nil {
				t.Fatalf("ParseAuth: %v", err)
			}
			if a.Verify(fixturePub(), "POST", "/v1/push", body) {
				t.Fatal("verified")
			}
		})
	}
	t.Run("tampered query", func(t *testing.T) {
		g := SignRequest(FixtureKey(), testStation, "GET", pullURI, at, nil)
		a, _ := ParseAuth(g)
		if !a.Verify(fixturePub(), "GET", pullURI, nil) {
			t.Fatal("good pull signature does not verify")
		}
		for _, uri := range []string{
			strings.Replace(pullURI, "after=0", "after=1", 1),
			strings.Replace(pullURI, "limit=500", "limit=2000", 1),
			"/v1/pull?agent=1.0.0&after=0&feed=&limit=500&pending=0", // same values, other order
		} {
			if a.Verify(fixturePub(), "GET", uri, nil) {
				t.Fatalf("verified for %s", uri)
			}
		}
	})
}

func TestParseAuthErrors(t *testing.T) {
	good := SignRequest(FixtureKey(), testStation, "GET", "/v1/pull", time.UnixMilli(1), nil)
	sig := good[strings.Index(good, "sig="):]
	for _, tc := range []struct{ name, h string }{
		{"empty", ""},
		{"bearer", "Bearer abc"},
		{"scheme only", AuthScheme},
		{"scheme in lower case", strings.ToLower(AuthScheme) + " station=s,ts=1," + sig},
		{"no station", AuthScheme + " ts=1," + sig},
		{"no time", AuthScheme + " station=s," + sig},
		{"no signature", AuthScheme + " station=s,ts=1"},
		{"time not a number", AuthScheme + " station=s,ts=yesterday," + sig},
		{"time in seconds with a fraction", AuthScheme + " station=s,ts=1795649989.280," + sig},
		{"signature not base64url", AuthScheme + " station=s,ts=1,sig=" + strings.Repeat("+", 86)},
		{"signature padded", AuthScheme + " station=s,ts=1," + sig + "=="},
		{"signature short", AuthScheme + " station=s,ts=1,sig=" + base64.RawURLEncoding.EncodeToString(make([]byte, 63))},
		{"signature long", AuthScheme + " station=s,ts=1,sig=" + base64.RawURLEncoding.EncodeToString(make([]byte, 65))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if a, err := ParseAuth(tc.h); err == nil {
				t.Fatalf("parsed %+v", a)
			}
		})
	}
	// Spaces after the commas and parts in another order are accepted.
	a, err := ParseAuth(AuthScheme + " " + sig + ", ts=1, station=" + testStation)
	if err != nil || a.Station != testStation || !a.Verify(fixturePub(), "GET", "/v1/pull", nil) {
		t.Fatalf("reordered header: %+v, %v", a, err)
	}
}

// VerifyHash checks a signature from the hash alone, as the county does
// before it reads a body; only 64 lowercase hex digits are a hash.
func TestVerifyHash(t *testing.T) {
	body := []byte("SSB1 some envelope")
	a, err := ParseAuth(SignRequest(FixtureKey(), testStation, "POST", "/v1/push", time.UnixMilli(1795649989280), body))
	if err != nil {
		t.Fatal(err)
	}
	h := BodyHash(body)
	if !ValidBodyHash(h) || !a.VerifyHash(fixturePub(), "POST", "/v1/push", h) {
		t.Fatal("the body's own hash does not verify")
	}
	if a.VerifyHash(fixturePub(), "POST", "/v1/push", BodyHash([]byte("SSB1 another"))) {
		t.Fatal("another body's hash verifies")
	}
	for _, bad := range []string{"", h[:63], h + "0", strings.ToUpper(h), h[:63] + "g", " " + h[1:], h[:62] + "\u00e9"} {
		if ValidBodyHash(bad) {
			t.Errorf("ValidBodyHash(%q) = true", bad)
		}
	}
}
