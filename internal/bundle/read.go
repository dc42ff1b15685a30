package bundle

import (
	"bytes"
	"compress/flate"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"unicode/utf8"
)

// Error codes of *Error: stable words for programs and tests; the Chinese
// Message may be reworded.
const (
	CodeNotBundle    = "not_bundle"    // not a bundle at all
	CodeVersion      = "version"       // a format this build does not know
	CodeTruncated    = "truncated"     // cut short: copied or written incompletely
	CodeCorrupt      = "corrupt"       // damaged or altered: a manifest or hash that does not check
	CodeBadSignature = "bad_signature" // not signed by the key of the station it names
	CodeWrongStation = "wrong_station" // a downlink for another station
	CodeWrongKind    = "wrong_kind"    // an uplink where a downlink is expected, or the reverse
)

// Error says why a bundle was refused. Message is a complete Simplified
// Chinese sentence for the cadre or the county's staff; Err, if set, is
// the detail for the log.
type Error struct {
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrCorrupt) and the like match by code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinels for errors.Is.
var (
	ErrNotBundle    = &Error{Code: CodeNotBundle}
	ErrVersion      = &Error{Code: CodeVersion}
	ErrTruncated    = &Error{Code: CodeTruncated}
	ErrCorrupt      = &Error{Code: CodeCorrupt}
	ErrBadSignature = &Error{Code: CodeBadSignature}
	ErrWrongStation = &Error{Code: CodeWrongStation}
	ErrWrongKind    = &Error{Code: CodeWrongKind}
)

func errNotBundle() *Error {
	return &Error{Code: CodeNotBundle, Message: "这不是村站通的数据包文件（.bundle），请确认选择的文件。"}
}

func errTruncated(detail string) *Error {
	return &Error{Code: CodeTruncated, Message: "数据包文件不完整，可能在复制或写入完成前拔出了 U 盘。请重新导出或重新复制后再导入。", Err: errors.New(detail)}
}

func errCorrupt(detail string, args ...any) *Error {
	return &Error{Code: CodeCorrupt, Message: "数据包文件已损坏或被改动过，不能导入。请重新导出后再导入。", Err: fmt.Errorf(detail, args...)}
}

func kindName(k Kind) string {
	if k == Uplink {
		return "村站上报的数据包"
	}
	return "县里发回的回执数据包"
}

// Options say what the importer expects.
type Options struct {
	// Kind is the kind expected here: Uplink at the county, Downlink at a
	// station.
	Kind Kind

	// Station, if set, is the only station the bundle may be for: a
	// station importing a downlink names itself.
	Station string

	// Key returns the public key that must have signed the bundle: the
	// key of m.Station for an uplink, the county's for a downlink. Only
	// Kind has been checked when it is called; nothing of m is trusted
	// yet. An error (an unknown or revoked station) refuses the bundle
	// and is returned unchanged, so the caller's own message reaches the
	// user.
	Key func(m *Manifest) (ed25519.PublicKey, error)

	// MaxEntry bounds one entry, stored and decompressed; default
	// DefaultMaxEntry.
	MaxEntry int64
}

// Bundle is a bundle whose signature and every hash have been checked.
type Bundle struct {
	Manifest
	r      io.ReaderAt
	offs   []int64
	closer io.Closer
}

// Open reads and checks the bundle file at path (see Read). Close the
// Bundle when done: on Windows an open file keeps a stick from being
// removed safely, so a caller copies a stick's file to local disk first.
func Open(path string, opt Options) (*Bundle, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	b, err := Read(f, fi.Size(), opt)
	if err != nil {
		f.Close()
		return nil, err
	}
	b.closer = f
	return b, nil
}

// Close closes the file of a Bundle from Open.
func (b *Bundle) Close() error {
	if b.closer == nil {
		return nil
	}
	return b.closer.Close()
}

// Read checks a whole bundle of size bytes and returns it only if it is
// sound: the head and version, the end mark, the manifest, the kind, the
// signature with opt.Key's key, the station, and each entry's stored and
// decompressed bytes against their signed hashes and sizes. A refusal is
// an *Error, or the error of opt.Key.
func Read(r io.ReaderAt, size int64, opt Options) (*Bundle, error) {
	maxEntry := opt.MaxEntry
	if maxEntry <= 0 {
		maxEntry = DefaultMaxEntry
	}
	head := make([]byte, headSize)
	n, err := r.ReadAt(head, 0)
	if n < len(Magic) {
		if bytes.HasPrefix([]byte(Magic), head[:n]) && (err == nil || err == io.EOF) {
			return nil, errTruncated("shorter than the magic")
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		return nil, errNotBundle()
	}
	if string(head[:len(Magic)]) != Magic {
		return nil, errNotBundle()
	}
	if n < headSize {
		return nil, errTruncated("no version")
	}
	if v := binary.BigEndian.Uint16(head[len(Magic):]); v != Version {
		if v > Version {
			return nil, &Error{Code: CodeVersion, Message: fmt.Sprintf("这个数据包由更新版本的村站通生成（格式 %d，本程序只认识格式 %d），请先升级本程序再导入。", v, Version)}
		}
		return nil, errCorrupt("format version %d", v)
	}
	if size < int64(headSize+trailerSize) {
		return nil, errTruncated("no trailer")
	}
	trailer := make([]byte, trailerSize)
	if _, err := r.ReadAt(trailer, size-int64(trailerSize)); err != nil {
		return nil, fmt.Errorf("read bundle: %w", err)
	}
	if string(trailer[4+ed25519.SignatureSize:]) != EndMark {
		return nil, errTruncated("no end mark")
	}
	ml := int64(binary.BigEndian.Uint32(trailer))
	if ml > MaxManifest || ml > size-int64(headSize+trailerSize) {
		return nil, errCorrupt("manifest length %d in %d bytes", ml, size)
	}
	mj := make([]byte, ml)
	manifestAt := size - int64(trailerSize) - ml
	if _, err := r.ReadAt(mj, manifestAt); err != nil {
		return nil, fmt.Errorf("read bundle: %w", err)
	}
	m, err := parseManifest(mj, maxEntry)
	if err != nil {
		return nil, err
	}
	if m.Kind != opt.Kind {
		return nil, &Error{Code: CodeWrongKind, Message: fmt.Sprintf("这是%s，应在%s导入。", kindName(m.Kind), map[Kind]string{Uplink: "县级服务器", Downlink: "村站通"}[m.Kind])}
	}
	if opt.Key == nil {
		return nil, errors.New("read bundle: no key lookup")
	}
	pub, err := opt.Key(m)
	if err != nil {
		return nil, err
	}
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, signedBytes(mj), trailer[4:4+ed25519.SignatureSize]) {
		return nil, &Error{Code: CodeBadSignature, Message: "数据包的签名不对：它不是由所标明的站点（或县里）生成的，或者内容被改动过，不能导入。"}
	}
	if opt.Station != "" && m.Station != opt.Station {
		return nil, &Error{Code: CodeWrongStation, Message: fmt.Sprintf("这个数据包是发给另一个村站（村代码 %s）的，不是本站的，不能导入。", m.Village)}
	}
	b := &Bundle{Manifest: *m, r: r, offs: make([]int64, len(m.Entries))}
	off := int64(headSize)
	for i, e := range m.Entries {
		b.offs[i] = off
		off += e.Stored
	}
	if off != manifestAt {
		return nil, errCorrupt("entries end at %d, manifest at %d", off, manifestAt)
	}
	for i := range m.Entries {
		if err := b.check(i, nil); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func parseManifest(mj []byte, maxEntry int64) (*Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(mj))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, errCorrupt("manifest: %v", err)
	}
	if dec.More() || dec.InputOffset() != int64(len(mj)) {
		return nil, errCorrupt("manifest: trailing data")
	}
	if m.Kind != Uplink && m.Kind != Downlink {
		return nil, errCorrupt("manifest: kind %q", m.Kind)
	}
	if m.Station == "" || len(m.Station) > 64 || !utf8.ValidString(m.Station) || !validVillage(m.Village) || !validHex(m.ID, 32) {
		return nil, errCorrupt("manifest: station %q, village %q, id %q", m.Station, m.Village, m.ID)
	}
	if len(m.Entries) > MaxEntries {
		return nil, errCorrupt("manifest: %d entries", len(m.Entries))
	}
	for i, e := range m.Entries {
		ok := e.Type != "" && len(e.Type) <= 32 && len(e.Name) <= 256 && utf8.ValidString(e.Type+e.Name) &&
			e.Size >= 0 && e.Size <= maxEntry && e.Stored >= 0 && e.Stored <= maxEntry &&
			validHex(e.SHA256, 64) && validHex(e.StoredSHA256, 64)
		switch e.Enc {
		case EncStore:
			ok = ok && e.Stored == e.Size && e.StoredSHA256 == e.SHA256
		case EncDeflate:
		default:
			ok = false
		}
		if !ok {
			return nil, errCorrupt("manifest: entry %d %+v", i, e)
		}
	}
	return &m, nil
}

func validHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// check verifies entry i: its stored bytes against their hash, then its
// content, decompressed no further than its signed size, against its own.
// With out non-nil the content is also written there, after the stored
// bytes checked and before the content's hash is known; Entry buffers it.
func (b *Bundle) check(i int, out io.Writer) error {
	e := b.Entries[i]
	sh := sha256.New()
	if _, err := io.Copy(sh, io.NewSectionReader(b.r, b.offs[i], e.Stored)); err != nil {
		return fmt.Errorf("read bundle entry %d: %w", i, err)
	}
	if hex.EncodeToString(sh.Sum(nil)) != e.StoredSHA256 {
		return errCorrupt("entry %d (%s %s): stored bytes do not match", i, e.Type, e.Name)
	}
	var src io.Reader = io.NewSectionReader(b.r, b.offs[i], e.Stored)
	if e.Enc == EncDeflate {
		fr := flate.NewReader(src)
		defer fr.Close()
		src = fr
	}
	ch := sha256.New()
	w := io.Writer(ch)
	if out != nil {
		w = io.MultiWriter(ch, out)
	}
	n, err := io.Copy(w, io.LimitReader(src, e.Size+1))
	if err != nil {
		return errCorrupt("entry %d (%s %s): %v", i, e.Type, e.Name, err)
	}
	if n != e.Size || hex.EncodeToString(ch.Sum(nil)) != e.SHA256 {
		return errCorrupt("entry %d (%s %s): content does not match (%d bytes of %d)", i, e.Type, e.Name, n, e.Size)
	}
	return nil
}

// Entry returns the content of entry i, checked again against its hash
// (the file may have changed since Read): never bytes that do not match.
func (b *Bundle) Entry(i int) ([]byte, error) {
	if i < 0 || i >= len(b.Entries) {
		return nil, fmt.Errorf("bundle entry %d of %d", i, len(b.Entries))
	}
	buf := bytes.NewBuffer(make([]byte, 0, b.Entries[i].Size))
	if err := b.check(i, buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
