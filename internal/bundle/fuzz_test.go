package bundle

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"testing"
)

// FuzzRead feeds the reader what a stick, an upload form or a watched
// folder may bring. It never panics, refuses with an *Error (or the key
// lookup's own), and whatever it accepts is exactly a bundle the station
// signed: the signature cannot be forged, so an accepted input must carry
// the manifest of one of the seeds, and each entry reads back as its
// signed hash says.
func FuzzRead(f *testing.F) {
	dir := f.TempDir()
	// Fixed IDs: every fuzz worker builds the seeds anew and must get the
	// same bytes (Ed25519 signatures are deterministic).
	n := 0
	defer func(old func() string) { newID = old }(newID)
	newID = func() string { n++; return fmt.Sprintf("%032x", n) }
	manifests := map[string]Manifest{}
	contents := map[string][]byte{} // by sha256
	seed := func(items []item) {
		p := write(f, dir, Uplink, station, stationKey, items)
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		os.Remove(p)
		r, err := Read(bytes.NewReader(b), int64(len(b)), atCounty)
		if err != nil {
			f.Fatal(err)
		}
		manifests[r.ID] = r.Manifest
		for _, it := range items {
			contents[hexSum(it.data)] = it.data
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	seed([]item{{"envelope", "1-2", random(9, 200)}, {"note", "", bytes.Repeat([]byte("走访正常 "), 30)}})
	seed([]item{{"empty", "", nil}})
	seed(nil)
	f.Add([]byte(Magic))
	f.Add([]byte("%PDF-1.4"))
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := Read(bytes.NewReader(in), int64(len(in)), atCounty)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) && !errors.Is(err, errUnknown) {
				t.Fatalf("refusal of another type: %v", err)
			}
			if e != nil && e.Message == "" {
				t.Fatalf("refusal without a message: %#v", e)
			}
			return
		}
		want, ok := manifests[b.ID]
		if !ok || !reflect.DeepEqual(want, b.Manifest) {
			t.Fatalf("accepted a manifest nobody signed: %+v", b.Manifest)
		}
		for i, e := range b.Entries {
			got, err := b.Entry(i)
			if err != nil || !bytes.Equal(got, contents[e.SHA256]) {
				t.Fatalf("entry %d: %v", i, err)
			}
		}
	})
}
