package syncproto

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// AuthScheme names the Authorization scheme of signed station requests.
const AuthScheme = "Stationsync-Ed25519"

// SkewWindow is how far a request's signing time may differ from the
// server's clock. Station clocks are wrong; the agent signs with its clock
// corrected by the offset it learned, and learns it again from a clock_skew
// answer.
const SkewWindow = 10 * time.Minute

// SignRequest returns the Authorization value for a request. The signature
// covers method, path with query, time and the body's hash, so it cannot be
// reused for another request or, after SkewWindow, at all.
func SignRequest(key ed25519.PrivateKey, station, method, pathQuery string, at time.Time, body []byte) string {
	ts := strconv.FormatInt(at.UnixMilli(), 10)
	sig := ed25519.Sign(key, signingString(method, pathQuery, ts, body))
	return fmt.Sprintf("%s station=%s,ts=%s,sig=%s", AuthScheme, station, ts, base64.RawURLEncoding.EncodeToString(sig))
}

// RequestAuth is a parsed Authorization value.
type RequestAuth struct {
	Station string
	At      time.Time
	ts      string
	sig     []byte
}

// ParseAuth parses an Authorization value without verifying it.
func ParseAuth(h string) (*RequestAuth, error) {
	rest, ok := strings.CutPrefix(h, AuthScheme+" ")
	if !ok {
		return nil, errors.New("syncproto: missing station signature")
	}
	var a RequestAuth
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "station":
			a.Station = v
		case "ts":
			ms, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, errors.New("syncproto: bad signature time")
			}
			a.ts, a.At = v, time.UnixMilli(ms)
		case "sig":
			sig, err := base64.RawURLEncoding.DecodeString(v)
			if err != nil || len(sig) != ed25519.SignatureSize {
				return nil, errors.New("syncproto: bad signature encoding")
			}
			a.sig = sig
		}
	}
	if a.Station == "" || a.ts == "" || a.sig == nil {
		return nil, errors.New("syncproto: incomplete station signature")
	}
	return &a, nil
}

// Verify checks the signature against the request.
func (a *RequestAuth) Verify(pub ed25519.PublicKey, method, pathQuery string, body []byte) bool {
	return a.VerifyHash(pub, method, pathQuery, BodyHash(body))
}

// VerifyHash checks the signature against a request whose body has the
// SHA-256 bodyHash (lowercase hex, as in HeaderContentSHA256). The county
// checks who signed from the headers alone, before it reads a body; the
// body must then be checked against bodyHash.
func (a *RequestAuth) VerifyHash(pub ed25519.PublicKey, method, pathQuery, bodyHash string) bool {
	return len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, signingStringHash(method, pathQuery, a.ts, bodyHash), a.sig)
}

// CodeTooMany is the code of a 429 answer: the station (or, for a request
// the county cannot verify before its body, the address) already has as
// many requests in progress as the county allows. Retry-After says when to
// come back.
const CodeTooMany = "too_many"

// HeaderContentSHA256 carries, on a signed request with a body, the
// lowercase hex SHA-256 of the body: the hash the signature already covers.
// With it the county verifies the signature before it reads the body, so a
// stranger cannot make it wait for one (PROTOCOL.md §9).
const HeaderContentSHA256 = "X-Content-SHA256"

// BodyHash is the lowercase hex SHA-256 of body, as signed and as sent in
// HeaderContentSHA256.
func BodyHash(body []byte) string {
	h := sha256.Sum256(body)
	return hex.EncodeToString(h[:])
}

// ValidBodyHash reports whether v is a well-formed HeaderContentSHA256
// value: 64 lowercase hex digits.
func ValidBodyHash(v string) bool {
	if len(v) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func signingString(method, pathQuery, ts string, body []byte) []byte {
	return signingStringHash(method, pathQuery, ts, BodyHash(body))
}

func signingStringHash(method, pathQuery, ts, bodyHash string) []byte {
	return []byte("stationsync-v1\n" + method + "\n" + pathQuery + "\n" + ts + "\n" + bodyHash)
}
