package server

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"stationsync/syncproto"
)

func leafOf(t *testing.T, dir string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "server.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The own CA is made once; the server certificate is renewed before it
// expires and when the host names change, always by the same CA, so the
// stations' pin stays valid.
func TestOwnCARenewal(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	pin, err := OwnCA(dir, []string{"county.example", "10.0.0.5"}, now)
	if err != nil {
		t.Fatal(err)
	}
	first := leafOf(t, dir)
	if again, _ := OwnCA(dir, []string{"10.0.0.5", "county.example"}, now.Add(time.Hour)); again != pin || leafOf(t, dir).SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatal("a valid certificate was replaced")
	}
	later := first.NotAfter.Add(-RenewBefore + time.Hour)
	if p, _ := OwnCA(dir, []string{"county.example", "10.0.0.5"}, later); p != pin {
		t.Fatal("the CA changed on renewal")
	}
	renewed := leafOf(t, dir)
	if renewed.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatal("an expiring certificate was not renewed")
	}
	OwnCA(dir, []string{"county.example"}, later)
	if leafOf(t, dir).SerialNumber.Cmp(renewed.SerialNumber) == 0 {
		t.Fatal("changed host names did not renew the certificate")
	}
	cs, err := NewCertSource(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	if cs.Pin != pin {
		t.Fatalf("served chain pins %s, CA is %s", cs.Pin, pin)
	}
	// A pinned client accepts the chain, whatever the station's clock.
	cfg := syncproto.PinnedTLS(syncproto.ShortPin(pin), nil)
	c, _ := cs.GetCertificate(&tls.ClientHelloInfo{})
	if err := cfg.VerifyPeerCertificate(c.Certificate, nil); err != nil {
		t.Fatalf("pinned verification: %v", err)
	}
	other := t.TempDir()
	otherPin, _ := OwnCA(other, []string{"x"}, now)
	if err := syncproto.PinnedTLS(otherPin, nil).VerifyPeerCertificate(c.Certificate, nil); err == nil {
		t.Fatal("another CA's pin accepted the chain")
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:8870": true, "[::1]:1": true, "localhost:80": true, "0.0.0.0:8870": false, "10.0.0.5:8870": false, ":8870": false} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("%s: %v", addr, got)
		}
	}
}
