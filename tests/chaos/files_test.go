package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"path/filepath"
	"sync"

	"stationsync/internal/blobstore"
	"stationsync/internal/records"
	"stationsync/server"
)

// Attachments in the chaos suites: the cadre now and then attaches a photo
// or a scan to one of the visits she recorded, while the faults go on; once
// sync settles, the county must hold every file, byte for byte as the
// station kept it, and the visit must name it (the oracle journals the
// visit's photos like any edit).

// attacher is how the driver attaches at a station (*agent.Agent).
type attacher interface {
	Attach(ctx context.Context, recordID, name, by string, r io.Reader) (string, error)
	OpenAttachment(hash string) (*blobstore.Reader, error)
}

// fileJournal is what the oracle keeps of the files: the bytes the station
// kept under each hash.
type fileJournal struct {
	mu    sync.Mutex
	files map[string][]byte
}

func (j *fileJournal) add(hash string, data []byte) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.files == nil {
		j.files = map[string][]byte{}
	}
	j.files[hash] = data
}

// attachOne attaches a new photo or scan to one of the driver's visits and
// journals the visit's new photo list and the file's bytes as kept.
func (d *driver) attachOne(ctx context.Context) error {
	vid := d.visits[d.rng.IntN(len(d.visits))]
	name, data := d.someFile()
	hash, err := d.att.Attach(ctx, vid, name, d.by, bytes.NewReader(data))
	if err != nil {
		return err
	}
	r, err := d.att.OpenAttachment(hash)
	if err != nil {
		return fmt.Errorf("open the kept file: %w", err)
	}
	kept, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		return fmt.Errorf("read the kept file: %w", err)
	}
	d.photos[vid] = append(d.photos[vid], hash)
	list, _ := json.Marshal(d.photos[vid])
	d.o.Edited(vid, records.Fields{"photos": list})
	d.o.files.add(hash, kept)
	return nil
}

// someFile makes a photo (a JPEG of 300–1,000 px, different every time) or
// a scan (a PDF of 20–300 KB): several chunks each, so that link faults
// and kills land inside uploads.
func (d *driver) someFile() (string, []byte) {
	if d.rng.IntN(3) == 0 {
		n := 20<<10 + d.rng.IntN(280<<10)
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(d.rng.Uint32())
		}
		copy(b, "%PDF-1.4\n")
		copy(b[n-7:], "\n%%EOF\n")
		return fmt.Sprintf("扫描件-%d.pdf", d.rng.IntN(1e6)), b
	}
	w, h := 300+d.rng.IntN(700), 300+d.rng.IntN(700)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := uint8(d.rng.IntN(256))
			img.SetRGBA(x, y, color.RGBA{v, uint8(x), uint8(y), 255})
		}
	}
	var buf bytes.Buffer
	jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85})
	return fmt.Sprintf("IMG_%d.jpg", d.rng.IntN(1e6)), buf.Bytes()
}

// verifyFiles checks that the county holds every file the stations kept,
// byte for byte, and lists it as arrived; it returns the problems.
func verifyFiles(cs *server.CountyStore, o *oracle) (lost int, diffs []string) {
	o.files.mu.Lock()
	defer o.files.mu.Unlock()
	if len(o.files.files) == 0 {
		return 0, nil
	}
	hashes := make([]string, 0, len(o.files.files))
	for h := range o.files.files {
		hashes = append(hashes, h)
	}
	arrived, err := cs.Files(context.Background(), hashes)
	if err != nil {
		return len(hashes), []string{"county files: " + err.Error()}
	}
	bs, err := blobstore.Open(filepath.Join(cs.DataDir(), "files"))
	if err != nil {
		return len(hashes), []string{"county file store: " + err.Error()}
	}
	for h, want := range o.files.files {
		if _, ok := arrived[h]; !ok {
			lost++
			diffs = append(diffs, "file "+h[:12]+"… not listed at the county")
			continue
		}
		r, err := bs.Open(h)
		if err != nil {
			lost++
			diffs = append(diffs, "file "+h[:12]+"… at the county: "+err.Error())
			continue
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, want) {
			lost++
			diffs = append(diffs, fmt.Sprintf("file %s… at the county: %d bytes (%v), the station kept %d", h[:12], len(got), err, len(want)))
		}
	}
	return lost, diffs
}

// files is the number of files the stations attached.
func (o *oracle) fileCount() int {
	o.files.mu.Lock()
	defer o.files.mu.Unlock()
	return len(o.files.files)
}
