package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"stationsync/internal/atomicfile"
	"stationsync/syncproto"
)

// The county's own CA. On first start without an operator's certificate
// the server makes a CA (ca.pem, ca.key) and a server certificate it signs
// (server.pem, server.key) in its data folder. Stations pin the CA's
// fingerprint at enrollment, so the server certificate can be renewed — by
// the same CA, automatically before it expires — without any station
// noticing.

// Lifetimes of the own CA and of the server certificates it signs.
const (
	CALifetime   = 20 * 365 * 24 * time.Hour
	LeafLifetime = 397 * 24 * time.Hour
	RenewBefore  = 30 * 24 * time.Hour
)

// CertSource serves the current server certificate and reloads it when the
// files change, so a renewal needs no restart.
type CertSource struct {
	CertFile, KeyFile string
	// Pin is the fingerprint stations pin: the CA that signs the server
	// certificate (the last certificate of the chain file).
	Pin string

	mu      sync.Mutex
	cert    *tls.Certificate
	modTime time.Time
	checked time.Time
}

// NewCertSource loads an operator's (or the own CA's) certificate chain
// and key.
func NewCertSource(certFile, keyFile string) (*CertSource, error) {
	cs := &CertSource{CertFile: certFile, KeyFile: keyFile}
	if err := cs.load(); err != nil {
		return nil, err
	}
	return cs, nil
}

func (cs *CertSource) load() error {
	st, err := os.Stat(cs.CertFile)
	if err != nil {
		return fmt.Errorf("server certificate: %w", err)
	}
	c, err := tls.LoadX509KeyPair(cs.CertFile, cs.KeyFile)
	if err != nil {
		return fmt.Errorf("server certificate: %w", err)
	}
	cs.cert, cs.modTime = &c, st.ModTime()
	cs.Pin = syncproto.Fingerprint(c.Certificate[len(c.Certificate)-1])
	return nil
}

// GetCertificate is tls.Config.GetCertificate.
func (cs *CertSource) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if time.Since(cs.checked) > 10*time.Second {
		cs.checked = time.Now()
		if st, err := os.Stat(cs.CertFile); err == nil && !st.ModTime().Equal(cs.modTime) {
			// A failed reload keeps the certificate that works.
			cert, mod, pin := cs.cert, cs.modTime, cs.Pin
			if err := cs.load(); err != nil {
				cs.cert, cs.modTime, cs.Pin = cert, mod, pin
			}
		}
	}
	return cs.cert, nil
}

// TLSConfig is the server side.
func (cs *CertSource) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: cs.GetCertificate}
}

// OwnCA makes (on first call) or loads the own CA in dir and makes sure
// dir/server.pem is a valid certificate for hosts, signed by it, renewing
// it when it expires within RenewBefore or the hosts changed. It returns
// the CA's fingerprint.
func OwnCA(dir string, hosts []string, now time.Time) (string, error) {
	caCert, caKey, err := loadOrMakeCA(dir, now)
	if err != nil {
		return "", err
	}
	leafFile := filepath.Join(dir, "server.pem")
	if b, err := os.ReadFile(leafFile); err == nil {
		if blk, _ := pem.Decode(b); blk != nil {
			if leaf, err := x509.ParseCertificate(blk.Bytes); err == nil &&
				leaf.CheckSignatureFrom(caCert) == nil && now.Add(RenewBefore).Before(leaf.NotAfter) && sameHosts(leaf, hosts) {
				return syncproto.Fingerprint(caCert.Raw), nil
			}
		}
	}
	if err := IssueServerCert(dir, caCert, caKey, hosts, now); err != nil {
		return "", err
	}
	return syncproto.Fingerprint(caCert.Raw), nil
}

func sameHosts(leaf *x509.Certificate, hosts []string) bool {
	var have []string
	have = append(have, leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		have = append(have, ip.String())
	}
	want := slices.Clone(hosts)
	slices.Sort(have)
	slices.Sort(want)
	return slices.Equal(have, want)
}

func newSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

func loadOrMakeCA(dir string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key")
	if cb, err := os.ReadFile(certFile); err == nil {
		kb, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("own CA key: %w", err)
		}
		cblk, _ := pem.Decode(cb)
		kblk, _ := pem.Decode(kb)
		if cblk == nil || kblk == nil {
			return nil, nil, errors.New("own CA: damaged PEM")
		}
		c, err := x509.ParseCertificate(cblk.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("own CA: %w", err)
		}
		k, err := x509.ParseECPrivateKey(kblk.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("own CA key: %w", err)
		}
		return c, k, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          newSerial(),
		Subject:               pkix.Name{CommonName: "村站通 县级服务器 CA", Organization: []string{"stationsync"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("make own CA: %w", err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	if err := atomicfile.Write(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return nil, nil, fmt.Errorf("save own CA key: %w", err)
	}
	// Not secret, but private like every file of the data folder: one
	// rule, which doctor and the tests check.
	if err := atomicfile.Write(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return nil, nil, fmt.Errorf("save own CA: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	return c, key, err
}

// IssueServerCert writes dir/server.pem (the certificate, then the CA) and
// dir/server.key for hosts (names or IP addresses), signed by the CA.
func IssueServerCert(dir string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, hosts []string, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: newSerial(),
		Subject:      pkix.Name{CommonName: "村站通 县级服务器"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(LeafLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("issue server certificate: %w", err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})...)
	// Key first: a reload between the two writes then sees a new key with
	// the old certificate, fails, and keeps the old pair until the next
	// check.
	if err := atomicfile.Write(filepath.Join(dir, "server.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return fmt.Errorf("save server key: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, "server.pem"), chain, 0o600); err != nil {
		return fmt.Errorf("save server certificate: %w", err)
	}
	return nil
}

// RenewLoop renews the own CA's server certificate before it expires,
// checking daily, until ctx ends.
func RenewLoop(ctx context.Context, dir string, hosts []string, logger interface{ Info(string, ...any) }) {
	t := time.NewTicker(24 * time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := OwnCA(dir, hosts, time.Now()); err == nil {
				logger.Info("server certificate checked", "dir", dir)
			}
		}
	}
}

// IsLoopback reports whether a listen address binds only the loopback
// interface, where plain HTTP is allowed.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Reload reads the certificate files again now (a renewal is otherwise
// picked up within 10 seconds).
func (cs *CertSource) Reload() error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.checked = time.Now()
	return cs.load()
}

// RenewNow issues a new server certificate from the own CA in dir for
// hosts, whatever the current one's expiry.
func RenewNow(dir string, hosts []string, now time.Time) error {
	ca, key, err := loadOrMakeCA(dir, now)
	if err != nil {
		return err
	}
	return IssueServerCert(dir, ca, key, hosts, now)
}
