package bundle

import (
	"bytes"
	"compress/flate"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"stationsync/syncproto"
)

const (
	station = "st_ca4967ce4f0b5dc4"
	village = "340123101201"
)

var (
	stationKey = ed25519.NewKeyFromSeed([]byte("bundle test key of one station.."))
	otherKey   = ed25519.NewKeyFromSeed([]byte("bundle test key of another stati"))
	countyKey  = ed25519.NewKeyFromSeed([]byte("bundle test key of the county..."))
	// 2026-12-03 17:30 UTC is already 12-04 in China.
	created = time.Date(2026, 12, 3, 17, 30, 0, 0, time.UTC)
)

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// keys is how the county finds a station's key (Options.Key for uplinks).
func keys(m *Manifest) (ed25519.PublicKey, error) {
	if m.Station == station {
		return pub(stationKey), nil
	}
	return nil, errUnknown
}

var errUnknown = errors.New("未知站点")

func countyKeyOf(*Manifest) (ed25519.PublicKey, error) { return pub(countyKey), nil }

var atCounty = Options{Kind: Uplink, Key: keys}

func random(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

type item struct {
	typ, name string
	data      []byte
}

// sample is an uplink's kind of content: a sealed envelope (zstd already,
// stored), a photo (random, stored), a JSON note (deflated), an empty one.
func sample() []item {
	note := []byte(strings.Repeat(`{"kind":"visit","id":"01a21514-a090-7488-9e64-b1b9e08e283b","note":"走访正常"}`, 40))
	photo := random(2, 150<<10)
	return []item{
		{"envelope", "1-3", random(1, 5000)},
		{"blob", hexSum(photo), photo},
		{"note", "", note},
		{"empty", "", nil},
	}
}

func write(t testing.TB, dir string, kind Kind, st string, key ed25519.PrivateKey, items []item) string {
	t.Helper()
	w, err := Create(dir, Manifest{Kind: kind, Station: st, Village: village, Created: created.UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if err := w.Add(it.typ, it.name, it.data); err != nil {
			t.Fatal(err)
		}
	}
	p, err := w.Commit(key)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func readBytes(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func code(err error) string {
	var e *Error
	if !errors.As(err, &e) {
		return fmt.Sprintf("not *Error: %v", err)
	}
	if !strings.ContainsFunc(e.Message, func(r rune) bool { return r >= 0x4e00 && r <= 0x9fff }) {
		return "no Chinese message: " + e.Message
	}
	return e.Code
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	items := sample()
	p := write(t, dir, Uplink, station, stationKey, items)
	if got, want := filepath.Base(p), "村站通-340123101201-20261204-1.bundle"; got != want {
		t.Errorf("name %s, want %s (the day in China)", got, want)
	}
	b, err := Open(p, atCounty)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Kind != Uplink || b.Station != station || b.Village != village || b.Created != created.UnixMilli() || len(b.ID) != 32 {
		t.Fatalf("manifest %+v", b.Manifest)
	}
	if len(b.Entries) != len(items) {
		t.Fatalf("%d entries", len(b.Entries))
	}
	encs := map[string]string{"envelope": EncStore, "blob": EncStore, "note": EncDeflate, "empty": EncStore}
	for i, it := range items {
		e := b.Entries[i]
		if e.Type != it.typ || e.Name != it.name || e.Size != int64(len(it.data)) || e.SHA256 != hexSum(it.data) {
			t.Errorf("entry %d: %+v", i, e)
		}
		if e.Enc != encs[it.typ] {
			t.Errorf("%s stored as %s, want %s", it.typ, e.Enc, encs[it.typ])
		}
		got, err := b.Entry(i)
		if err != nil || !bytes.Equal(got, it.data) {
			t.Errorf("entry %d: %d bytes, %v", i, len(got), err)
		}
	}
	list, _ := os.ReadDir(dir)
	if len(list) != 1 {
		t.Errorf("folder holds %v, want only the bundle", list)
	}
}

// An uplink carries the signed envelopes a push sends, and they open at
// the county with the station's key as they would from the network.
func TestUplinkCarriesPushEnvelopes(t *testing.T) {
	batch := &syncproto.Batch{Version: syncproto.Version, Station: station, Epoch: "ae23d6886d9d4cf2", Village: village,
		Changes: []syncproto.Change{{Seq: 1, HLC: 1 << 20, Kind: "visit", ID: "v1", Op: "upsert", By: "李明", At: 1,
			Fields: map[string]json.RawMessage{"note": json.RawMessage(`"走访正常"`)}}}}
	env, err := syncproto.SealBatch(batch, stationKey, syncproto.Best)
	if err != nil {
		t.Fatal(err)
	}
	p := write(t, t.TempDir(), Uplink, station, stationKey, []item{{"envelope", "1-1", env}})
	b, err := Open(p, atCounty)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	raw, err := b.Entry(0)
	if err != nil {
		t.Fatal(err)
	}
	e, _, err := syncproto.ParseEnvelope(raw)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.Open(pub(stationKey))
	if err != nil || got.Changes[0].ID != "v1" {
		t.Fatalf("envelope from the bundle: %v", err)
	}
}

// Bundles of one village and day are numbered on; a name taken by any
// file is skipped.
func TestNamesCountUp(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "村站通-340123101201-20261204-2.bundle"), []byte("someone else's"), 0o600)
	var names []string
	for range 3 {
		names = append(names, filepath.Base(write(t, dir, Uplink, station, stationKey, sample()[:1])))
	}
	want := []string{"村站通-340123101201-20261204-1.bundle", "村站通-340123101201-20261204-3.bundle", "村站通-340123101201-20261204-4.bundle"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("names %v, want %v", names, want)
	}
	if got := filepath.Base(write(t, dir, Downlink, station, countyKey, sample()[:1])); got != "村站通回执-340123101201-20261204-1.bundle" {
		t.Errorf("downlink named %s", got)
	}
}

// Exports at once into one folder each get a name of their own and each
// reads back whole.
func TestConcurrentCommits(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := write(t, dir, Uplink, station, stationKey, []item{{"envelope", fmt.Sprint(i), random(uint64(i), 3000)}})
			mu.Lock()
			defer mu.Unlock()
			if seen[p] {
				t.Errorf("name %s given twice", p)
			}
			seen[p] = true
		}()
	}
	wg.Wait()
	for p := range seen {
		b, err := Open(p, atCounty)
		if err != nil {
			t.Fatal(err)
		}
		b.Close()
	}
	if len(seen) != 12 {
		t.Fatalf("%d bundles", len(seen))
	}
}

// Until Commit has renamed it, a bundle is a hidden .tmp file: a stick
// pulled early, or an export that failed, leaves nothing named .bundle;
// and that file, renamed by hand, is refused as incomplete.
func TestNoBundleUntilCommitted(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir, Manifest{Kind: Uplink, Station: station, Village: village, Created: created.UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range sample() {
		w.Add(it.typ, it.name, it.data)
	}
	list, _ := os.ReadDir(dir)
	if len(list) != 1 || strings.HasSuffix(list[0].Name(), Ext) || !strings.HasPrefix(list[0].Name(), ".") {
		t.Fatalf("while writing the folder holds %v", list)
	}
	if _, _, _, _, ok := ParseFileName(list[0].Name()); ok {
		t.Error("the temporary file passes for a bundle name")
	}
	renamed := filepath.Join(dir, "by-hand.bundle")
	os.Link(filepath.Join(dir, list[0].Name()), renamed)
	if _, err := Open(renamed, atCounty); code(err) != CodeTruncated {
		t.Errorf("unfinished bundle: %v", err)
	}
	os.Remove(renamed)
	w.Abort()
	if list, _ := os.ReadDir(dir); len(list) != 0 {
		t.Fatalf("after Abort the folder holds %v", list)
	}
	// A failed Commit (no key) leaves nothing either.
	w, _ = Create(dir, Manifest{Kind: Uplink, Station: station, Village: village})
	w.Add("note", "", []byte("x"))
	if _, err := w.Commit(nil); err == nil {
		t.Fatal("Commit without a key succeeded")
	}
	if list, _ := os.ReadDir(dir); len(list) != 0 {
		t.Fatalf("after a failed Commit the folder holds %v", list)
	}
}

// Each way a bundle can be wrong is refused with its own code and a
// Chinese message, before any entry is handed out.
func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	good := readBytes(t, write(t, dir, Uplink, station, stationKey, sample()))
	forged := readBytes(t, write(t, dir, Uplink, station, otherKey, sample()))
	down := readBytes(t, write(t, dir, Downlink, "st_other", countyKey, sample()))
	newer := bytes.Clone(good)
	binary.BigEndian.PutUint16(newer[8:], Version+1)
	entryFlipped := bytes.Clone(good)
	entryFlipped[20] ^= 1
	cases := []struct {
		name string
		file []byte
		opt  Options
		want string
	}{
		{"a PDF", []byte("%PDF-1.4\n%%EOF\n"), atCounty, CodeNotBundle},
		{"empty", nil, atCounty, CodeTruncated},
		{"magic only", []byte(Magic), atCounty, CodeTruncated},
		{"cut in the middle", good[:len(good)/2], atCounty, CodeTruncated},
		{"cut by one byte", good[:len(good)-1], atCounty, CodeTruncated},
		{"future format", newer, atCounty, CodeVersion},
		{"entry altered", entryFlipped, atCounty, CodeCorrupt},
		{"signed with another key", forged, atCounty, CodeBadSignature},
		{"downlink at the county", down, atCounty, CodeWrongKind},
		{"uplink at a station", good, Options{Kind: Downlink, Station: station, Key: countyKeyOf}, CodeWrongKind},
		{"downlink for another station", down, Options{Kind: Downlink, Station: station, Key: countyKeyOf}, CodeWrongStation},
	}
	for _, c := range cases {
		b, err := Read(bytes.NewReader(c.file), int64(len(c.file)), c.opt)
		if err == nil {
			t.Errorf("%s: accepted %+v", c.name, b.Manifest)
			continue
		}
		if got := code(err); got != c.want {
			t.Errorf("%s: %s (%v), want %s", c.name, got, err, c.want)
		}
		if !errors.Is(err, &Error{Code: c.want}) {
			t.Errorf("%s: errors.Is by code fails", c.name)
		}
	}
	// An unknown or revoked station: the caller's own error comes back.
	other := readBytes(t, write(t, dir, Uplink, "st_unknown", otherKey, sample()))
	if _, err := Read(bytes.NewReader(other), int64(len(other)), atCounty); !errors.Is(err, errUnknown) {
		t.Errorf("unknown station: %v", err)
	}
	// The station's own downlink is fine.
	mine := readBytes(t, write(t, dir, Downlink, station, countyKey, sample()))
	if _, err := Read(bytes.NewReader(mine), int64(len(mine)), Options{Kind: Downlink, Station: station, Key: countyKeyOf}); err != nil {
		t.Errorf("own downlink: %v", err)
	}
}

// No prefix of a bundle reads as a bundle, and no single changed byte
// anywhere goes unnoticed.
func TestEveryCutAndEveryFlipRefused(t *testing.T) {
	dir := t.TempDir()
	good := readBytes(t, write(t, dir, Uplink, station, stationKey, []item{
		{"envelope", "1-2", random(5, 300)}, {"note", "n", []byte(strings.Repeat("走访", 100))}}))
	for n := range len(good) {
		if _, err := Read(bytes.NewReader(good[:n]), int64(n), atCounty); code(err) != CodeTruncated {
			t.Fatalf("cut at %d of %d: %v", n, len(good), err)
		}
	}
	for i := range good {
		for _, bit := range []byte{0x01, 0x80} {
			bad := bytes.Clone(good)
			bad[i] ^= bit
			_, err := Read(bytes.NewReader(bad), int64(len(bad)), atCounty)
			if err == nil {
				t.Fatalf("byte %d ^ %#x accepted", i, bit)
			}
			if c := code(err); c != CodeCorrupt && c != CodeBadSignature && c != CodeTruncated && c != CodeNotBundle && c != CodeVersion && c != CodeWrongKind && !errors.Is(err, errUnknown) {
				t.Fatalf("byte %d ^ %#x: %v", i, bit, err)
			}
		}
	}
}

// craft builds a bundle from parts, signed: what a station whose key was
// stolen could send. The reader must still hold.
func craft(key ed25519.PrivateKey, m Manifest, data []byte) []byte {
	mj, _ := json.Marshal(m)
	b := append([]byte(Magic), 0, Version)
	b = append(b, data...)
	b = append(b, mj...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(mj)))
	b = append(b, ed25519.Sign(key, signedBytes(mj))...)
	return append(b, EndMark...)
}

func crafted() Manifest {
	return Manifest{Kind: Uplink, ID: strings.Repeat("ab", 16), Station: station, Village: village}
}

// Even validly signed, a bundle whose parts disagree is refused: entries
// that do not fill the data, a deflate stream that inflates past its
// signed size (a bomb), content that does not match, unknown fields.
func TestSignedButInconsistent(t *testing.T) {
	var bomb bytes.Buffer
	fw, _ := flate.NewWriter(&bomb, flate.BestCompression)
	fw.Write(make([]byte, 50<<20))
	fw.Close()
	zeros := make([]byte, 100)
	entry := func(e Entry) Manifest {
		m := crafted()
		m.Entries = []Entry{e}
		return m
	}
	cases := map[string][]byte{
		"bomb":                               craft(stationKey, entry(Entry{Type: "blob", Size: 100, SHA256: hexSum(zeros), Enc: EncDeflate, Stored: int64(bomb.Len()), StoredSHA256: hexSum(bomb.Bytes())}), bomb.Bytes()),
		"data longer than the entries":       craft(stationKey, entry(Entry{Type: "blob", Size: 3, SHA256: hexSum([]byte("abc")), Enc: EncStore, Stored: 3, StoredSHA256: hexSum([]byte("abc"))}), []byte("abcd")),
		"content not its hash":               craft(stationKey, entry(Entry{Type: "blob", Size: 3, SHA256: hexSum([]byte("abd")), Enc: EncStore, Stored: 3, StoredSHA256: hexSum([]byte("abd"))}), []byte("abc")),
		"stored hash differs from content's": craft(stationKey, entry(Entry{Type: "blob", Size: 3, SHA256: hexSum([]byte("abc")), Enc: EncStore, Stored: 3, StoredSHA256: hexSum([]byte("abd"))}), []byte("abc")),
		"unknown encoding":                   craft(stationKey, entry(Entry{Type: "blob", Size: 3, SHA256: hexSum([]byte("abc")), Enc: "zstd", Stored: 3, StoredSHA256: hexSum([]byte("abc"))}), []byte("abc")),
		"entry over the max":                 craft(stationKey, entry(Entry{Type: "blob", Size: DefaultMaxEntry + 1, SHA256: hexSum(nil), Enc: EncDeflate, Stored: 1, StoredSHA256: hexSum(nil)}), []byte("a")),
		"no type":                            craft(stationKey, entry(Entry{Size: 0, SHA256: hexSum(nil), Enc: EncStore, StoredSHA256: hexSum(nil)}), nil),
		"short id":                           craft(stationKey, Manifest{Kind: Uplink, ID: "ab", Station: station, Village: village}, nil),
		"bad village":                        craft(stationKey, Manifest{Kind: Uplink, ID: crafted().ID, Station: station, Village: "3401231012"}, nil),
		"unknown field": func() []byte {
			mj := []byte(`{"kind":"uplink","id":"` + crafted().ID + `","station":"` + station + `","village":"` + village + `","created":0,"entries":[],"extra":1}`)
			b := append([]byte(Magic), 0, Version)
			b = append(b, mj...)
			b = binary.BigEndian.AppendUint32(b, uint32(len(mj)))
			b = append(b, ed25519.Sign(stationKey, signedBytes(mj))...)
			return append(b, EndMark...)
		}(),
	}
	for name, file := range cases {
		start := time.Now()
		_, err := Read(bytes.NewReader(file), int64(len(file)), atCounty)
		if code(err) != CodeCorrupt {
			t.Errorf("%s: %v", name, err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("%s: took %v", name, took)
		}
	}
	// A crafted bundle that is consistent is read: the checks above are
	// not refusing everything crafted.
	ok := craft(stationKey, entry(Entry{Type: "blob", Size: 3, SHA256: hexSum([]byte("abc")), Enc: EncStore, Stored: 3, StoredSHA256: hexSum([]byte("abc"))}), []byte("abc"))
	if _, err := Read(bytes.NewReader(ok), int64(len(ok)), atCounty); err != nil {
		t.Fatalf("consistent crafted bundle: %v", err)
	}
}

// Entry checks again: a file changed after Read (a stick whose sector
// went bad, a file replaced) yields an error, not the new bytes.
func TestEntryChecksAgain(t *testing.T) {
	file := readBytes(t, write(t, t.TempDir(), Uplink, station, stationKey, sample()))
	b, err := Read(bytes.NewReader(file), int64(len(file)), atCounty)
	if err != nil {
		t.Fatal(err)
	}
	file[headSize+10] ^= 1 // inside the first entry
	if got, err := b.Entry(0); code(err) != CodeCorrupt || got != nil {
		t.Fatalf("Entry after the file changed: %d bytes, %v", len(got), err)
	}
	if _, err := b.Entry(2); err != nil {
		t.Fatalf("an untouched entry: %v", err)
	}
	if _, err := b.Entry(len(sample())); err == nil {
		t.Fatal("entry out of range")
	}
}

func TestFileNames(t *testing.T) {
	if got := FileName(Uplink, village, time.Date(2026, 12, 3, 15, 59, 0, 0, time.UTC), 1); got != "村站通-340123101201-20261203-1.bundle" {
		t.Errorf("15:59 UTC: %s", got)
	}
	if got := FileName(Uplink, village, time.Date(2026, 12, 3, 16, 0, 0, 0, time.UTC), 12); got != "村站通-340123101201-20261204-12.bundle" {
		t.Errorf("16:00 UTC: %s", got)
	}
	for _, c := range []struct {
		name string
		kind Kind
		n    int
		ok   bool
	}{
		{"村站通-340123101201-20261203-1.bundle", Uplink, 1, true},
		{"/media/u盘/村站通回执-340123101201-20261203-27.bundle", Downlink, 27, true},
		{"村站通-340123101201-20261203-01.bundle", "", 0, false},
		{"村站通-340123101201-20261203-0.bundle", "", 0, false},
		{"村站通-340123101201-20261332-1.bundle", "", 0, false},
		{"村站通-3401231012-20261203-1.bundle", "", 0, false},
		{"村站通-340123101201-20261203-1.bundle.tmp", "", 0, false},
		{".村站通-写入中-123.tmp", "", 0, false},
		{"其他-340123101201-20261203-1.bundle", "", 0, false},
	} {
		kind, v, day, n, ok := ParseFileName(c.name)
		if ok != c.ok || kind != c.kind || n != c.n || ok && (v != village || day != "20261203") {
			t.Errorf("ParseFileName(%q) = %q %q %q %d %v", c.name, kind, v, day, n, ok)
		}
	}
	if _, err := NextName(t.TempDir(), Uplink, "12", created); err == nil {
		t.Error("a bad village named a bundle")
	}
}
