package server

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"stationsync/internal/atomicfile"
	"stationsync/internal/fileperm"
)

// The county's bundle key signs the downlink bundles it writes for USB
// sticks (PROTOCOL.md §16). It is made once, at first use, in the data
// folder beside county.db (bundle.key, 64 bytes, private to the service
// account), and its public half reaches stations in the enrolment answer
// and in every pull answer.

// BundleKeyFile is the key's name in the county's data folder.
const BundleKeyFile = "bundle.key"

var bundleKeys struct {
	sync.Mutex
	m map[string]ed25519.PrivateKey
}

// BundleKey returns the county's bundle-signing key, made on first use.
func (s *CountyStore) BundleKey() (ed25519.PrivateKey, error) {
	return LoadBundleKey(s.db.Dir)
}

// BundlePublicKey is the public half of BundleKey, or nil if it cannot be
// had (logged by whoever needs it to sign).
func (s *CountyStore) BundlePublicKey() ed25519.PublicKey {
	k, err := s.BundleKey()
	if err != nil {
		return nil
	}
	return k.Public().(ed25519.PublicKey)
}

// LoadBundleKey reads dir/bundle.key, making it if there is none. Two
// processes making it at once (the service and `county-server import`)
// agree: the key is written under a name of its own and linked into
// place, and whoever finds it there already reads that one.
func LoadBundleKey(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, BundleKeyFile)
	bundleKeys.Lock()
	defer bundleKeys.Unlock()
	if k := bundleKeys.m[path]; k != nil {
		return k, nil
	}
	k, err := readBundleKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, err = makeBundleKey(path)
	}
	if err != nil {
		return nil, err
	}
	if bundleKeys.m == nil {
		bundleKeys.m = map[string]ed25519.PrivateKey{}
	}
	bundleKeys.m[path] = k
	return k, nil
}

func readBundleKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("county bundle key %s is damaged (%d bytes): move it away and restart; stations learn the new key at their next sync", path, len(b))
	}
	return ed25519.PrivateKey(b), nil
}

func makeBundleKey(path string) (ed25519.PrivateKey, error) {
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("make county bundle key: %w", err)
	}
	var n [8]byte
	rand.Read(n[:])
	tmp := path + ".new-" + hex.EncodeToString(n[:])
	if err := atomicfile.Write(tmp, k, 0o600); err != nil {
		return nil, fmt.Errorf("save county bundle key: %w", err)
	}
	defer os.Remove(tmp)
	if err := fileperm.Restrict(tmp); err != nil {
		return nil, err
	}
	if err := os.Link(tmp, path); errors.Is(err, fs.ErrExist) {
		return readBundleKey(path)
	} else if err != nil {
		return nil, fmt.Errorf("save county bundle key: %w", err)
	}
	return k, nil
}

// bundlePublicKey is the key the enrolment and pull answers carry: nil for
// a store that keeps no files of its own.
func (s *Server) bundlePublicKey() string {
	if bk, ok := s.Store.(interface{ BundlePublicKey() ed25519.PublicKey }); ok {
		if k := bk.BundlePublicKey(); k != nil {
			return hex.EncodeToString(k)
		}
	}
	return ""
}
