package bench

import (
	"bytes"
	"context"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/gen"
	"stationsync/internal/linkem"
	"stationsync/internal/records"
)

// cameraJPEG stands in for a 12-megapixel phone photo of about 3 MB
// (gen.Photo: near a real one's size before and after the station's
// scaling).
func cameraJPEG() []byte { return gen.Photo(4000, 3000, seed, 92) }

// Benchmark2GPhoto: a cadre records a visit and attaches one 3 MB camera
// photo, then the station syncs over the 2G link of Benchmark2GLink
// (8,000 bytes/s each way, 300 ms). Reported: the photo as taken and as
// kept after the station scaled it, the bytes sent up, and the time from
// the round's start until the visit is at the county and until the photo
// is (the visit must not wait behind the photo). Run once (-benchtime 1x
// in `make bench`): one run is a minute of 2G.
func Benchmark2GPhoto(b *testing.B) {
	link2G := linkem.Options{Latency: 300 * time.Millisecond, UpBytesPerSec: 8000, DownBytesPerSec: 8000}
	ctx := context.Background()
	camera := cameraJPEG()
	var toRecord, toPhoto durations
	var up, down, kept int64
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		c := newCounty(b, dir)
		p, err := linkem.New(c.http.Listener.Addr().String(), link2G)
		must(b, err, "link emulator")
		b.Cleanup(func() { p.Close() })
		a := newStation(b, filepath.Join(dir, "station"), c, p.URL()) // its own files folder, not the county's
		g := gen.New(seed)
		by := cadres(g)
		persons := savePersons(b, a, g, by, 1)
		_, err = a.SyncOnce(ctx)
		must(b, err, "first sync")

		vid, err := a.Store.Save(ctx, records.Visit, "", fields(b, g.Visit(persons[0], g.Date(visitsFrom, visitsTo))), by[0])
		must(b, err, "save the visit")
		hash, err := a.Attach(ctx, vid, "IMG_20261203_101500.jpg", by[0], bytes.NewReader(camera))
		must(b, err, "attach the photo")
		r, err := a.OpenAttachment(hash)
		must(b, err, "open the kept photo")
		kept += r.Size()
		r.Close()
		// A new connection, as after a minute without coverage.
		p.Set(linkem.Options{Down: true})
		time.Sleep(100 * time.Millisecond)
		p.Set(link2G)
		before := p.Stats()

		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		var res agent.SyncResult
		var syncErr error
		wg.Go(func() { res, syncErr = a.SyncOnce(ctx) })
		var recordAt time.Duration
		for c.count(b, records.Visit) == 0 {
			time.Sleep(20 * time.Millisecond)
		}
		recordAt = time.Since(start)
		wg.Wait()
		photoAt := time.Since(start)
		b.StopTimer()
		must(b, syncErr, "sync over 2G")
		if res.Files != 1 {
			b.Fatalf("the county acknowledged %d files, want the photo", res.Files)
		}
		have, err := c.store.Files(ctx, []string{hash})
		must(b, err, "county files")
		if _, ok := have[hash]; !ok {
			b.Fatal("the round ended without the photo at the county")
		}
		toRecord = append(toRecord, recordAt)
		toPhoto = append(toPhoto, photoAt)
		after := p.Stats()
		up += after.UpBytes - before.UpBytes
		down += after.DownBytes - before.DownBytes
	}
	n := float64(b.N)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(len(camera)), "camera-B")
	b.ReportMetric(float64(kept)/n, "kept-B")
	b.ReportMetric(float64(up)/n, "up-B")
	b.ReportMetric(float64(down)/n, "down-B")
	b.ReportMetric(toRecord.median().Seconds(), "record-s")
	b.ReportMetric(toPhoto.median().Seconds(), "photo-s")
}

// BenchmarkFileUploadLoopback: an 8 MiB scan goes up in 64 KiB chunks over
// the loopback, no link emulation: what the county's chunk path (check,
// fsync, offset) and the station's loop cost when the link is not the
// limit. Reported in MiB/s; the round also pushes the visit's change
// that names the scan (one small batch).
func BenchmarkFileUploadLoopback(b *testing.B) {
	ctx := context.Background()
	const size = 8 << 20
	scan := make([]byte, size)
	rand.NewChaCha8([32]byte{1}).Read(scan)
	copy(scan, "%PDF-1.4\n")
	copy(scan[size-7:], "\n%%EOF\n")
	var took durations
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		c := newCounty(b, dir)
		a := newStation(b, filepath.Join(dir, "station"), c, c.http.URL)
		g := gen.New(seed)
		by := cadres(g)
		persons := savePersons(b, a, g, by, 1)
		vid, err := a.Store.Save(ctx, records.Visit, "", fields(b, g.Visit(persons[0], g.Date(visitsFrom, visitsTo))), by[0])
		must(b, err, "save the visit")
		_, err = a.SyncOnce(ctx)
		must(b, err, "first sync")
		_, err = a.Attach(ctx, vid, "scan.pdf", by[0], bytes.NewReader(scan))
		must(b, err, "attach the scan")
		b.StartTimer()
		start := time.Now()
		res, err := a.SyncOnce(ctx)
		took = append(took, time.Since(start))
		b.StopTimer()
		must(b, err, "sync")
		if res.Files != 1 {
			b.Fatalf("the county acknowledged %d files, want 1", res.Files)
		}
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(size)/(1<<20)/took.median().Seconds(), "MiB/s")
}
