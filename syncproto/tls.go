package syncproto

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
)

// Certificate pinning. A county server may serve TLS with a certificate of
// its own CA, which no station trusts by default. The enrollment code the
// county hands out carries the CA's fingerprint, so the station trusts that
// CA (and only it) from its very first connection, and keeps the full
// fingerprint for every later one. The station pins the CA, not the
// server's certificate, so the county can renew its certificate (same CA)
// without touching a single station.
//
// Validity dates are not checked: trust comes from the pin, and station
// clocks are often years off (a dead CMOS battery resets a PC to 2009),
// which would otherwise turn into a permanent failure (LESSONS:
// retryablehttp, certificate errors are never retried).

// Fingerprint is the SHA-256 of a certificate's DER, in hex.
func Fingerprint(der []byte) string {
	h := sha256.Sum256(der)
	return hex.EncodeToString(h[:])
}

// pinAlphabet is the enrollment codes' alphabet: no 0/O, 1/I/L.
const pinAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// pinBytes of the fingerprint go into a code: 96 bits, far beyond what
// anyone can match with a forged certificate.
const pinBytes = 12

// PinLen is the length of the pin part of an enrollment code, without
// separators.
const PinLen = 20

// ShortPin turns a hex fingerprint into the 20 characters an enrollment code
// carries, in groups of five.
func ShortPin(fingerprint string) string {
	raw, err := hex.DecodeString(fingerprint)
	if err != nil || len(raw) < pinBytes {
		return ""
	}
	n := new(big.Int).SetBytes(raw[:pinBytes])
	base := big.NewInt(int64(len(pinAlphabet)))
	out := make([]byte, PinLen)
	mod := new(big.Int)
	for i := PinLen - 1; i >= 0; i-- {
		n.DivMod(n, base, mod)
		out[i] = pinAlphabet[mod.Int64()]
	}
	var sb strings.Builder
	for i, c := range out {
		if i > 0 && i%5 == 0 {
			sb.WriteByte('-')
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

func normalizePin(s string) string {
	return strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(s)))
}

// SplitEnrollCode splits an enrollment code into the one-time code and the
// pin it may carry: "ABCDE-FGHJK" has none, "ABCDE-FGHJK-" followed by
// four groups of five has one.
func SplitEnrollCode(code string) (otp, pin string) {
	n := normalizePin(code)
	if len(n) == 10+PinLen {
		return n[:5] + "-" + n[5:10], n[10:]
	}
	return code, ""
}

// pinMatches reports whether a certificate matches a pin, either a full
// hex fingerprint or the short form of an enrollment code.
func pinMatches(pin string, der []byte) bool {
	fp := Fingerprint(der)
	if len(pin) == 64 {
		return strings.EqualFold(pin, fp)
	}
	return normalizePin(pin) == normalizePin(ShortPin(fp))
}

// ErrPinMismatch says the server's certificate chain holds no certificate
// with the pinned fingerprint: it is not the county's server. Its text
// contains "certificate is not trusted", which retryablehttp's policy does
// not retry.
var ErrPinMismatch = errors.New("syncproto: server certificate is not trusted: it does not match the pinned fingerprint")

// PinnedTLS returns a TLS configuration that trusts exactly the
// certificate with the pinned fingerprint (full hex or short form) and the
// chain it signs. learned, if set, receives the full hex fingerprint of the
// pinned certificate once a handshake succeeds, to be kept for later
// connections.
func PinnedTLS(pin string, learned func(fingerprint string)) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The standard checks (system roots, dates, host name) are
		// replaced by the pin check below.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			if len(rawCerts) == 0 {
				return ErrPinMismatch
			}
			certs := make([]*x509.Certificate, len(rawCerts))
			for i, raw := range rawCerts {
				c, err := x509.ParseCertificate(raw)
				if err != nil {
					return fmt.Errorf("syncproto: server certificate: %w", err)
				}
				certs[i] = c
			}
			for i, raw := range rawCerts {
				if !pinMatches(pin, raw) {
					continue
				}
				anchor := certs[i]
				leaf := certs[0]
				if i > 0 {
					roots := x509.NewCertPool()
					roots.AddCert(anchor)
					inter := x509.NewCertPool()
					for _, c := range certs[1:i] {
						inter.AddCert(c)
					}
					_, err := leaf.Verify(x509.VerifyOptions{
						Roots: roots, Intermediates: inter,
						CurrentTime: leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) / 2),
						KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
					})
					if err != nil {
						return fmt.Errorf("syncproto: server certificate is not trusted: not signed by the pinned CA: %w", err)
					}
				}
				if learned != nil {
					learned(Fingerprint(raw))
				}
				return nil
			}
			return ErrPinMismatch
		},
	}
}

// UsePin makes the client trust only the pinned certificate (see
// PinnedTLS). It changes the client's transport, so call it before the
// first request.
func (c *Client) UsePin(pin string, learned func(fingerprint string)) {
	if pin == "" || c.HTTP == nil {
		return
	}
	tr, ok := c.HTTP.Transport.(*http.Transport)
	if !ok {
		return
	}
	var once sync.Once
	tr.TLSClientConfig = PinnedTLS(pin, func(fp string) {
		if learned != nil {
			once.Do(func() { learned(fp) })
		}
	})
}
