package bundle

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/gen"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
)

// BenchmarkBundle1000Visits100Photos: a village offline for weeks — 200
// persons, 1,000 visits, 100 of them with a photo — goes to the county on
// a stick and back. Reported: the uplink's size and the photos' share of
// it, the time to export, to import at the county (merging the changes,
// storing the files, writing the answer) and to import the answer at the
// station, and the answer's size.
func BenchmarkBundle1000Visits100Photos(b *testing.B) {
	ctx := context.Background()
	var upBytes, downBytes, photoBytes int64
	var export, county, station time.Duration
	for i := range b.N {
		b.StopTimer()
		c := testsupport.NewCounty(b)
		s := testsupport.NewStation(b, c, village, agent.Config{})
		c.LinkDown()
		g := gen.New(int64(i))
		var persons, visits []string
		for range 200 {
			persons = append(persons, s.MustSave(b, records.Person, "", testsupport.Fields(g.Person(village))))
		}
		for j := range 1000 {
			visits = append(visits, s.MustSave(b, records.Visit, "", testsupport.Fields(g.Visit(persons[j%len(persons)], time.Now().AddDate(0, 0, -j%60)))))
		}
		photoBytes = 0
		for j := range 100 {
			h, err := s.Attach(ctx, visits[j*10], "照片.jpg", "测试员", bytes.NewReader(gen.Photo(1600, 1200, uint64(i*1000+j), 90))) // as a station keeps a phone photo)
			if err != nil {
				b.Fatal(err)
			}
			if r, err := s.OpenAttachment(h); err == nil {
				photoBytes += r.Size()
				r.Close()
			}
		}
		stick := b.TempDir()
		b.StartTimer()

		t0 := time.Now()
		ex, err := s.Export(ctx, stick)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		res, err := importAtCounty(ctx, c, ex.Path, "")
		if err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		imp, err := s.Import(ctx, res.Downlink)
		if err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()

		b.StopTimer()
		if ex.Changes != 1200+100 || ex.Files != 100 || res.Applied != ex.Changes || res.FilesStored != 100 || imp.Acked != ex.Changes || imp.FilesAcked != 100 {
			b.Fatalf("export %+v, county %+v, station %+v", ex, res, imp)
		}
		export, county, station = export+t1.Sub(t0), county+t2.Sub(t1), station+t3.Sub(t2)
		upBytes = ex.Size
		if fi, err := os.Stat(res.Downlink); err == nil {
			downBytes = fi.Size()
		}
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(upBytes)/(1<<20), "uplink-MiB")
	b.ReportMetric(float64(upBytes-photoBytes)/1300, "uplink-B/change-less-photos")
	b.ReportMetric(float64(photoBytes)/(1<<20), "photos-MiB")
	b.ReportMetric(export.Seconds()*1000/n, "export-ms")
	b.ReportMetric(county.Seconds()*1000/n, "county-import-ms")
	b.ReportMetric(station.Seconds()*1000/n, "station-import-ms")
	b.ReportMetric(float64(downBytes), "downlink-B")
}
