package bundle

import (
	"bytes"
	"compress/flate"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"
	"unicode/utf8"

	"stationsync/internal/atomicfile"
)

// Format constants.
const (
	Magic   = "SSBUNDLE"
	EndMark = "SSBEOF\r\n"
	Version = 1

	headSize    = len(Magic) + 2
	trailerSize = 4 + ed25519.SignatureSize + len(EndMark)

	MaxManifest     = 16 << 20 // bytes of manifest JSON
	MaxEntries      = 100_000
	DefaultMaxEntry = 64 << 20 // bytes of one entry, stored or decompressed
)

// Kind says which way a bundle travels.
type Kind string

const (
	Uplink   Kind = "uplink"   // a station's changes and files, for the county
	Downlink Kind = "downlink" // the county's answer, for one station
)

// Encodings of an entry's stored bytes.
const (
	EncStore   = "store"
	EncDeflate = "deflate"
)

// Manifest describes a bundle. It is signed with the bundle.
type Manifest struct {
	Kind    Kind    `json:"kind"`
	ID      string  `json:"id"`      // 32 random hex digits, made by the writer: names the bundle in import logs
	Station string  `json:"station"` // the station that wrote an uplink, or that a downlink is for
	Village string  `json:"village"` // that station's 12-digit village code
	Created int64   `json:"created"` // unix ms by the writer's clock, for display only
	Entries []Entry `json:"entries"`
}

// Entry describes one item of a bundle.
type Entry struct {
	Type         string `json:"type"`           // for the importer: "envelope", "blob", …; 1–32 bytes
	Name         string `json:"name,omitempty"` // e.g. a blob's hash; at most 256 bytes
	Size         int64  `json:"size"`           // bytes of the content
	SHA256       string `json:"sha256"`         // of the content, lowercase hex
	Enc          string `json:"enc"`            // EncStore or EncDeflate
	Stored       int64  `json:"stored"`         // bytes in the file
	StoredSHA256 string `json:"stored_sha256"`  // of the stored bytes
}

// Writer writes a bundle into a temporary file in its folder; Commit signs
// it and gives it its name. Not safe for concurrent use.
type Writer struct {
	dir string
	f   *os.File
	m   Manifest
	off int64
	err error
}

// Create starts a bundle in dir (the stick's folder, or an export folder)
// with the manifest's Kind, Station, Village and Created; it makes the ID.
func Create(dir string, m Manifest) (*Writer, error) {
	if m.Kind != Uplink && m.Kind != Downlink {
		return nil, fmt.Errorf("create bundle: kind %q", m.Kind)
	}
	if m.Station == "" || len(m.Station) > 64 || !validVillage(m.Village) {
		return nil, fmt.Errorf("create bundle: station %q, village %q", m.Station, m.Village)
	}
	m.ID = newID()
	m.Entries = nil
	// Hidden and not .bundle: a stick pulled before Commit leaves nothing
	// a person or a watched folder takes for a bundle.
	f, err := os.CreateTemp(dir, ".村站通-写入中-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("create bundle: %w", err)
	}
	w := &Writer{dir: dir, f: f, m: m}
	var head [headSize]byte
	copy(head[:], Magic)
	binary.BigEndian.PutUint16(head[len(Magic):], Version)
	if _, err := f.Write(head[:]); err != nil {
		w.Abort()
		return nil, fmt.Errorf("create bundle: %w", err)
	}
	return w, nil
}

// Manifest is the bundle as written so far.
func (w *Writer) Manifest() Manifest { return w.m }

// Add appends an entry. Content that deflate does not shrink by a
// sixteenth (a JPEG, a sealed envelope already zstd'd) is stored as it is.
func (w *Writer) Add(typ, name string, data []byte) error {
	if w.err != nil {
		return w.err
	}
	if typ == "" || len(typ) > 32 || len(name) > 256 || !utf8.ValidString(typ+name) {
		return fmt.Errorf("bundle entry %q %q: bad type or name", typ, name)
	}
	if len(data) > DefaultMaxEntry {
		return fmt.Errorf("bundle entry %q %q: %d bytes, at most %d", typ, name, len(data), DefaultMaxEntry)
	}
	if len(w.m.Entries) >= MaxEntries {
		return fmt.Errorf("bundle entry %q %q: more than %d entries", typ, name, MaxEntries)
	}
	e := Entry{Type: typ, Name: name, Size: int64(len(data)), SHA256: hexSum(data), Enc: EncStore}
	stored := data
	if len(data) >= 64 && shrinks(data[:min(len(data), sampleSize)]) {
		var b bytes.Buffer
		fw, _ := flate.NewWriter(&b, flate.DefaultCompression)
		fw.Write(data)
		fw.Close()
		if b.Len() < len(data)-len(data)/16 {
			stored, e.Enc = b.Bytes(), EncDeflate
		}
	}
	e.Stored, e.StoredSHA256 = int64(len(stored)), hexSum(stored)
	if _, err := w.f.Write(stored); err != nil {
		w.err = fmt.Errorf("write bundle: %w", err)
		return w.err
	}
	w.off += e.Stored
	w.m.Entries = append(w.m.Entries, e)
	return nil
}

// sampleSize is the head of an entry deflate tries first: a photo does not
// shrink, and deflating all of a hundred of them took most of an export's
// time (about 0.6 s of a 1.3 s export of 32 MB of JPEG).
const sampleSize = 64 << 10

// shrinks reports whether deflate shrinks p by a sixteenth.
func shrinks(p []byte) bool {
	var b bytes.Buffer
	fw, _ := flate.NewWriter(&b, flate.BestSpeed)
	fw.Write(p)
	fw.Close()
	return b.Len() < len(p)-len(p)/16
}

// Commit signs the bundle with key, makes it durable and renames it to
// the next free name of NextName in the writer's folder, which it
// returns. After an error nothing named .bundle is left.
func (w *Writer) Commit(key ed25519.PrivateKey) (string, error) {
	if w.err != nil {
		w.Abort()
		return "", w.err
	}
	if len(key) != ed25519.PrivateKeySize {
		w.Abort()
		return "", errors.New("commit bundle: no signing key")
	}
	mj, err := json.Marshal(w.m)
	if err != nil || len(mj) > MaxManifest {
		w.Abort()
		return "", fmt.Errorf("commit bundle: manifest of %d bytes: %v", len(mj), err)
	}
	tail := make([]byte, 0, len(mj)+trailerSize)
	tail = append(tail, mj...)
	tail = binary.BigEndian.AppendUint32(tail, uint32(len(mj)))
	tail = append(tail, ed25519.Sign(key, signedBytes(mj))...)
	tail = append(tail, EndMark...)
	if _, err := w.f.Write(tail); err != nil {
		w.Abort()
		return "", fmt.Errorf("commit bundle: %w", err)
	}
	if err := w.f.Sync(); err != nil {
		w.Abort()
		return "", fmt.Errorf("commit bundle: %w", err)
	}
	tmp := w.f.Name()
	if err := w.f.Close(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("commit bundle: %w", err)
	}
	w.f = nil
	nameMu.Lock()
	defer nameMu.Unlock()
	path, err := NextName(w.dir, w.m.Kind, w.m.Village, time.UnixMilli(w.m.Created))
	if err == nil {
		err = atomicfile.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("commit bundle: %w", err)
	}
	return path, nil
}

// Abort drops an unfinished bundle.
func (w *Writer) Abort() {
	if w.f != nil {
		name := w.f.Name()
		w.f.Close()
		os.Remove(name)
		w.f = nil
	}
	if w.err == nil {
		w.err = errors.New("bundle aborted")
	}
}

// newID makes a bundle's ID; a variable so that the fuzz test can make
// the same bundles in every worker.
var newID = func() string {
	var id [16]byte
	rand.Read(id[:])
	return hex.EncodeToString(id[:])
}

// signedBytes is what the signature covers: the head, then the manifest.
func signedBytes(manifest []byte) []byte {
	b := make([]byte, 0, headSize+len(manifest))
	b = append(b, Magic...)
	b = binary.BigEndian.AppendUint16(b, Version)
	return append(b, manifest...)
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func validVillage(v string) bool {
	if len(v) != 12 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}
