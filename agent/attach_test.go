package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode"

	"stationsync/internal/photo"
	"stationsync/internal/records"
)

func openAttachAgent(t *testing.T, cfg AttachConfig) *Agent {
	t.Helper()
	a, err := Open(context.Background(), Config{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler), Attach: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// photoJPEG is a camera JPEG of w×h pixels.
func photoJPEG(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		x, y := (i/4)%w, (i/4)/w
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = uint8(x), uint8(y), uint8(x+y), 255
	}
	var b bytes.Buffer
	jpeg.Encode(&b, img, &jpeg.Options{Quality: 95})
	return b.Bytes()
}

func visitOf(t *testing.T, s *Store) string {
	t.Helper()
	ctx := context.Background()
	pid, err := s.Save(ctx, records.Person, "", person(), "甲")
	if err != nil {
		t.Fatal(err)
	}
	vid, err := s.Save(ctx, records.Visit, "", records.Fields{
		"person_id": json.RawMessage(`"` + pid + `"`), "visited_on": json.RawMessage(`"2026-11-20"`), "visitors": json.RawMessage(`["甲"]`),
		"method": json.RawMessage(`"入户走访"`), "risk": json.RawMessage(`"正常"`), "situation": json.RawMessage(`"身体尚可"`),
	}, "甲")
	if err != nil {
		t.Fatal(err)
	}
	return vid
}

// blobFiles lists the files the blob store keeps.
func blobFiles(t *testing.T, a *Agent) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(filepath.Join(a.cfg.DataDir, "files", "objects"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, d.Name())
		}
		return nil
	})
	return out
}

// Attaching a photo normalises it, keeps it under its hash, puts the hash
// in the visit's photos and queues the visit's change, with the file
// noted as pending, all in one step; the same photo again adds nothing.
func TestAttachQueuesTheRecordWithTheFile(t *testing.T) {
	ctx := context.Background()
	a := openAttachAgent(t, AttachConfig{})
	vid := visitOf(t, a.Store)
	before := count(t, a.Store, `SELECT count(*) FROM outbox`)
	raw := photoJPEG(1700, 500)
	hash, err := a.Attach(ctx, vid, `C:\Users\村委\DCIM\IMG_0001.JPG`, "乙", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	l, err := a.Store.Get(ctx, records.Visit, vid)
	if err != nil {
		t.Fatal(err)
	}
	if got := hashList(l.Fields["photos"]); len(got) != 1 || got[0] != hash || l.UpdatedBy != "乙" {
		t.Fatalf("visit photos %v by %q, want [%s] by 乙", got, l.UpdatedBy, hash)
	}
	var fields string
	a.Store.db.R.QueryRow(`SELECT fields FROM outbox ORDER BY seq DESC LIMIT 1`).Scan(&fields)
	if n := count(t, a.Store, `SELECT count(*) FROM outbox`); n != before+1 || fields != `{"photos":["`+hash+`"]}` {
		t.Fatalf("outbox %d changes (was %d), last %s", n, before, fields)
	}
	list, err := a.Attachments(ctx, vid)
	if err != nil || len(list) != 1 {
		t.Fatalf("attachments %+v %v", list, err)
	}
	at := list[0]
	if at.State != FilePending || at.Type != photo.TypeJPEG || at.Name != "IMG_0001.JPG" || at.Size <= 0 || at.Size >= int64(len(raw)) {
		t.Fatalf("attachment %+v (input %d bytes)", at, len(raw))
	}
	r, err := a.OpenAttachment(hash)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := io.ReadAll(r)
	r.Close()
	if err != nil || int64(len(kept)) != at.Size {
		t.Fatalf("kept %d bytes (%v), listed %d", len(kept), err, at.Size)
	}
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(kept)); err != nil || max(cfg.Width, cfg.Height) != photo.DefaultLongEdge {
		t.Fatalf("kept photo %+v %v: not normalised", cfg, err)
	}
	// Again: nothing new to queue.
	if h2, err := a.Attach(ctx, vid, "again.jpg", "乙", bytes.NewReader(raw)); err != nil || h2 != hash {
		t.Fatalf("again: %s %v", h2, err)
	}
	if n := count(t, a.Store, `SELECT count(*) FROM outbox`); n != before+1 {
		t.Fatalf("attaching the same photo again queued a change (%d)", n)
	}
	if c, _ := a.Store.FileCounts(ctx); c.Pending != 1 || c.PendingBytes != at.Size {
		t.Fatalf("counts %+v", c)
	}
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

// Refused, each with a Chinese message, and nothing kept — no file, no
// change, no row: a type the county does not take, a file over the size
// limit, a submitted application's documents, a record that does not
// exist or cannot hold files.
func TestAttachRefusalsKeepNothing(t *testing.T) {
	ctx := context.Background()
	a := openAttachAgent(t, AttachConfig{MaxSize: 64 << 10})
	vid := visitOf(t, a.Store)
	pid, _ := a.Store.Save(ctx, records.Person, "", person(), "甲")
	app, err := a.Store.Save(ctx, records.Application, "", records.Fields{
		"applicant_id": json.RawMessage(`"` + pid + `"`), "type": json.RawMessage(`"临时救助"`), "reason": json.RawMessage(`"因病致贫"`),
	}, "甲")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Store.Intent(ctx, app, records.OpSubmit, "", "甲"); err != nil {
		t.Fatal(err)
	}
	bigPDF := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("x"), 100<<10)...)
	bigPDF = append(bigPDF, "\n%%EOF\n"...)
	before := count(t, a.Store, `SELECT count(*) FROM outbox`)
	for _, c := range []struct {
		name, record string
		data         []byte
	}{
		{"gif", vid, append([]byte("GIF89a"), make([]byte, 100)...)},
		{"heic", vid, append([]byte("\x00\x00\x00\x18ftypheic"), make([]byte, 100)...)},
		{"too large", vid, bigPDF},
		{"submitted application", app, photoJPEG(100, 100)},
		{"no such record", "01a21514-a090-7488-9e64-b1b9e08e283b", photoJPEG(100, 100)},
		{"a person holds no files", pid, photoJPEG(100, 100)},
	} {
		_, err := a.Attach(ctx, c.record, c.name, "乙", bytes.NewReader(c.data))
		if err == nil {
			t.Errorf("%s: attached", c.name)
			continue
		}
		var fe *records.FieldError
		var pe *photo.Error
		if (errors.As(err, &fe) || errors.As(err, &pe)) && !hasHan(err.Error()) {
			t.Errorf("%s: %v, not Chinese", c.name, err)
		}
		if !errors.As(err, &fe) && !errors.As(err, &pe) && !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v, not a refusal the pages can show", c.name, err)
		}
	}
	if n := count(t, a.Store, `SELECT count(*) FROM outbox`); n != before {
		t.Fatalf("refusals queued %d changes", n-before)
	}
	if n := count(t, a.Store, `SELECT count(*) FROM attachments`); n != 0 {
		t.Fatalf("refusals noted %d files", n)
	}
	if files := blobFiles(t, a); len(files) != 0 {
		t.Fatalf("refusals kept files %v", files)
	}
}

// Taking a file off a record queues the change; a file no record names
// that never reached the county leaves the station, one another record
// still names stays.
func TestDetach(t *testing.T) {
	ctx := context.Background()
	a := openAttachAgent(t, AttachConfig{})
	v1, v2 := visitOf(t, a.Store), visitOf(t, a.Store)
	h1, err := a.Attach(ctx, v1, "1.jpg", "乙", bytes.NewReader(photoJPEG(300, 200)))
	if err != nil {
		t.Fatal(err)
	}
	h2, err := a.Attach(ctx, v1, "2.jpg", "乙", bytes.NewReader(photoJPEG(200, 300)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Attach(ctx, v2, "2.jpg", "乙", bytes.NewReader(photoJPEG(200, 300))); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{h1, h2} {
		if err := a.Detach(ctx, v1, h, "乙"); err != nil {
			t.Fatal(err)
		}
	}
	l, _ := a.Store.Get(ctx, records.Visit, v1)
	if string(l.Fields["photos"]) != `[]` {
		t.Fatalf("v1 photos %s", l.Fields["photos"])
	}
	files := strings.Join(blobFiles(t, a), " ")
	if strings.Contains(files, h1) || !strings.Contains(files, h2) {
		t.Fatalf("kept %s; want %.8s gone, %.8s kept (v2 names it)", files, h1, h2)
	}
	if n := count(t, a.Store, `SELECT count(*) FROM attachments`); n != 1 {
		t.Fatalf("%d files noted, want 1", n)
	}
	// Taking off what is not there changes nothing.
	before := count(t, a.Store, `SELECT count(*) FROM outbox`)
	if err := a.Detach(ctx, v1, h1, "乙"); err != nil || count(t, a.Store, `SELECT count(*) FROM outbox`) != before {
		t.Fatalf("detaching a file twice: %v", err)
	}
}

// Photos attached at once to one record all end in its list: the list is
// read and written in the transaction that queues the change.
func TestAttachAtOnce(t *testing.T) {
	ctx := context.Background()
	a := openAttachAgent(t, AttachConfig{})
	vid := visitOf(t, a.Store)
	var wg sync.WaitGroup
	hashes := make([]string, 8)
	for i := range hashes {
		wg.Go(func() {
			h, err := a.Attach(ctx, vid, "p.jpg", "乙", bytes.NewReader(photoJPEG(100+i, 100)))
			if err != nil {
				t.Error(err)
			}
			hashes[i] = h
		})
	}
	wg.Wait()
	l, _ := a.Store.Get(ctx, records.Visit, vid)
	got := hashList(l.Fields["photos"])
	for _, h := range hashes {
		if !strings.Contains(strings.Join(got, " "), h) {
			t.Fatalf("photos %v lack %s", got, h)
		}
	}
	if len(got) != len(hashes) {
		t.Fatalf("%d photos, want %d", len(got), len(hashes))
	}
}
