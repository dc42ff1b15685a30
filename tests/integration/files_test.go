package integration

import (
	"bytes"
	"context"
	"encoding/binary"
	"image"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/blobstore"
	"stationsync/internal/gen"
	"stationsync/internal/linkem"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
	"stationsync/syncproto"
)

// Attachments over the wire (PROTOCOL.md §15): files go after the
// records, in chunks, resume where the county's upload stands, and are
// never sent twice.

const chunk = syncproto.DefaultFileChunk

// noisePhoto is a camera-like JPEG of w×h pixels of noise: it comes out of
// normalising (photo.Normalize, long edge 1600, quality 80) at about
// 0.68 bytes a pixel, so 1400×1050 is a photo of about 1 MB.
func noisePhoto(w, h int, seed uint64) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(seed, 17))
	for i := range img.Pix {
		img.Pix[i] = byte(r.IntN(256))
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// scanPDF is a PDF of about n bytes (kept byte for byte by the station).
func scanPDF(n int, seed uint64) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	copy(b, "%PDF-1.4\n")
	copy(b[n-7:], "\n%%EOF\n")
	return b
}

// fileTraffic is what the county saw of the attachment calls.
type fileTraffic struct {
	mu       sync.Mutex
	statuses int
	puts     int
	offsets  []int64 // of each chunk, in arrival order
	read     atomic.Int64
}

func (ft *fileTraffic) counts() (statuses, puts int) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return ft.statuses, ft.puts
}

// countingBody counts the chunk bytes the county read, those of chunks
// cut short included.
type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// watchFiles puts a counter in front of the county's handler.
func watchFiles(c *testsupport.County) *fileTraffic {
	ft := &fileTraffic{}
	inner := c.Handler()
	c.SetHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == syncproto.PathFileStatus:
			ft.mu.Lock()
			ft.statuses++
			ft.mu.Unlock()
		case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, syncproto.PathFiles):
			off, _ := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
			ft.mu.Lock()
			ft.puts++
			ft.offsets = append(ft.offsets, off)
			ft.mu.Unlock()
			r.Body = countingBody{r.Body, &ft.read}
		}
		inner.ServeHTTP(w, r)
	}))
	return ft
}

// countyBlobs opens the county's file store to look at it.
func countyBlobs(t *testing.T, c *testsupport.County) *blobstore.Store {
	t.Helper()
	bs, err := blobstore.Open(filepath.Join(filepath.Dir(c.Path), "files"))
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

// assertCountyHas fails unless the county holds exactly want under hash
// and lists it as arrived.
func assertCountyHas(t *testing.T, c *testsupport.County, hash string, want []byte) {
	t.Helper()
	r, err := countyBlobs(t, c).Open(hash)
	if err != nil {
		t.Fatalf("county: %v", err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("county's copy of %.12s…: %d bytes, err %v; want the station's %d bytes", hash, len(got), err, len(want))
	}
	fs, err := c.Store.Files(context.Background(), []string{hash})
	if err != nil || fs[hash].Size != int64(len(want)) {
		t.Fatalf("county does not list %.12s… as arrived: %v %v", hash, fs, err)
	}
}

// stationCopy is the file as the station keeps it (normalised).
func stationCopy(t *testing.T, s *testsupport.Station, hash string) []byte {
	t.Helper()
	r, err := s.OpenAttachment(hash)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fileState(t *testing.T, s *testsupport.Station, recordID, hash string) agent.Attachment {
	t.Helper()
	list, err := s.Attachments(context.Background(), recordID)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range list {
		if at.Hash == hash {
			return at
		}
	}
	t.Fatalf("record %s does not list %.12s…: %+v", recordID, hash, list)
	return agent.Attachment{}
}

// visitAtCounty saves a person and a visit and syncs them; it returns the
// visit's id.
func visitAtCounty(t *testing.T, s *testsupport.Station, seed int64) string {
	t.Helper()
	g := gen.New(seed)
	pid := s.MustSave(t, records.Person, "", testsupport.Fields(g.Person(s.Village)))
	vid := s.MustSave(t, records.Visit, "", testsupport.Fields(g.Visit(pid, time.Now())))
	s.MustSync(t)
	return vid
}

func attach(t *testing.T, s *testsupport.Station, recordID, name string, data []byte) string {
	t.Helper()
	h, err := s.Attach(context.Background(), recordID, name, "测试员", bytes.NewReader(data))
	if err != nil {
		t.Fatalf("attach %s: %v", name, err)
	}
	return h
}

// A 1 MB photo goes up over a link cut at random bytes of the stream
// eight times: each cut costs at most the chunk it
// fell in, the upload goes on from the last acknowledged chunk, and the
// county ends with the station's bytes, verified.
func TestFileResumesAfterLinkCuts(t *testing.T) {
	c := testsupport.NewCounty(t)
	s := testsupport.NewStation(t, c, villageA, agent.Config{})
	vid := visitAtCounty(t, s, 1)
	hash := attach(t, s, vid, "IMG_0001.JPG", noisePhoto(1400, 1050, 1))
	want := stationCopy(t, s, hash)
	if len(want) < 900<<10 {
		t.Fatalf("normalised photo of %d bytes; the test wants about 1 MB", len(want))
	}
	ft := watchFiles(c)
	// 256 KiB/s: a chunk takes a quarter of a second, the photo four.
	slow := linkem.Options{UpBytesPerSec: 256 << 10, Latency: 5 * time.Millisecond}
	c.Link.Set(slow)

	// Each cut falls when the county has read a random 16–150 KiB more
	// than at the last one: anywhere in a chunk, in its headers, or
	// between chunks.
	const cuts = 8
	stop := make(chan struct{})
	var cutter sync.WaitGroup
	var made atomic.Int32
	cutter.Go(func() {
		r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
		next := int64(16<<10 + r.IntN(134<<10))
		for made.Load() < cuts {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if at := ft.read.Load(); at >= next {
				c.Link.Set(linkem.Options{Down: true})
				c.Link.Set(slow)
				made.Add(1)
				next = at + int64(16<<10+r.IntN(134<<10))
			}
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	rounds := 0
	for fileState(t, s, vid, hash).State != agent.FileAcked {
		if time.Now().After(deadline) {
			t.Fatalf("photo not acknowledged after %d rounds", rounds)
		}
		rounds++
		if _, err := s.SyncOnce(context.Background()); err != nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
	close(stop)
	cutter.Wait()
	n := int64(made.Load())
	if n == 0 {
		t.Fatal("no cut fell within the upload")
	}
	assertCountyHas(t, c, hash, want)
	resent := ft.read.Load() - int64(len(want))
	t.Logf("%d bytes over %d cuts (%d rounds): %d bytes sent again, %.0f per cut (chunk %d)", len(want), n, rounds, resent, float64(resent)/float64(n), chunk)
	if resent > n*chunk {
		t.Fatalf("%d bytes sent again over %d cuts: more than one chunk (%d) a cut", resent, n, chunk)
	}
	// Each chunk went from where the county's upload stood, never from 0
	// again once it had bytes.
	ft.mu.Lock()
	defer ft.mu.Unlock()
	var high int64
	for _, off := range ft.offsets {
		if off < high-chunk {
			t.Fatalf("a chunk went from %d while the county held %d: %v", off, high, ft.offsets)
		}
		high = max(high, off)
	}
}

// An agent stopped in the middle of an upload and started again from its
// data folder resumes at the county's offset: what the county had
// acknowledged is not sent again.
func TestFileResumesAfterAgentRestart(t *testing.T) {
	c := testsupport.NewCounty(t)
	s := testsupport.NewStation(t, c, villageA, agent.Config{})
	vid := visitAtCounty(t, s, 2)
	hash := attach(t, s, vid, "IMG_0002.JPG", noisePhoto(1400, 1050, 2))
	want := stationCopy(t, s, hash)
	ft := watchFiles(c)
	c.Link.Set(linkem.Options{UpBytesPerSec: 256 << 10})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := s.SyncOnce(ctx); done <- err }()
	for ft.read.Load() < 400<<10 {
		time.Sleep(5 * time.Millisecond)
	}
	// The power goes in the middle of a chunk: what the PC had not sent
	// yet never leaves it.
	c.Link.Set(linkem.Options{Down: true})
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the round ended well though it was stopped")
	}
	s.Close()
	_, before := ft.counts()
	sentBefore := ft.read.Load()

	c.Link.Set(linkem.Options{})
	s = testsupport.OpenStation(t, s.Dir, agent.Config{})
	res := s.MustSync(t)
	if res.Files != 1 || fileState(t, s, vid, hash).State != agent.FileAcked {
		t.Fatalf("after the restart: %+v, state %q", res, fileState(t, s, vid, hash).State)
	}
	assertCountyHas(t, c, hash, want)
	ft.mu.Lock()
	first := ft.offsets[before]
	ft.mu.Unlock()
	resent := ft.read.Load() - int64(len(want))
	t.Logf("stopped after %d bytes; the restarted agent went on from %d; %d bytes sent again", sentBefore, first, resent)
	if first == 0 || first < sentBefore-chunk {
		t.Fatalf("the restarted agent began at %d though the county had read %d", first, sentBefore)
	}
	if resent > chunk {
		t.Fatalf("%d bytes sent again after one restart: more than a chunk", resent)
	}
}

// A file the county holds is never sent again: not by the station that
// sent it, not attached to a second record, not by another station of the
// village, not by a station of another village.
func TestFileTheCountyHasIsNeverSent(t *testing.T) {
	c := testsupport.NewCounty(t)
	a := testsupport.NewStation(t, c, villageA, agent.Config{})
	ft := watchFiles(c)
	vid := visitAtCounty(t, a, 3)
	scan := scanPDF(300<<10, 3)
	hash := attach(t, a, vid, "户口簿.pdf", scan)
	if res := a.MustSync(t); res.Files != 1 {
		t.Fatalf("first sync acknowledged %d files", res.Files)
	}
	assertCountyHas(t, c, hash, scan)
	statuses, puts := ft.counts()
	if want := (len(scan) + chunk - 1) / chunk; puts != want || statuses != 1 {
		t.Fatalf("%d chunks and %d status requests for a %d-byte file; want %d and 1", puts, statuses, len(scan), want)
	}

	// Again: nothing to ask, nothing to send.
	a.MustSync(t)
	if s2, p2 := ft.counts(); s2 != statuses || p2 != puts {
		t.Fatalf("a sync with nothing new made %d status and %d chunk requests", s2-statuses, p2-puts)
	}
	// The same scan on a second record of the same station: acknowledged
	// already, the record goes up alone.
	vid2 := visitAtCounty(t, a, 4)
	if h := attach(t, a, vid2, "copy.pdf", scan); h != hash {
		t.Fatalf("same content, another hash: %s", h)
	}
	a.MustSync(t)
	if s2, p2 := ft.counts(); s2 != statuses || p2 != puts {
		t.Fatalf("attaching a sent file again made %d status and %d chunk requests", s2-statuses, p2-puts)
	}
	// Other stations with the same bytes ask, and send nothing.
	for i, village := range []string{villageA, villageB} {
		b := testsupport.NewStation(t, c, village, agent.Config{})
		bv := visitAtCounty(t, b, int64(10+i))
		attach(t, b, bv, "户口簿.pdf", scan)
		if res := b.MustSync(t); res.Files != 1 {
			t.Fatalf("station of %s: %d files acknowledged, want 1", village, res.Files)
		}
		if fileState(t, b, bv, hash).State != agent.FileAcked {
			t.Fatalf("station of %s: file not acknowledged", village)
		}
	}
	s2, p2 := ft.counts()
	if p2 != puts || s2 != statuses+2 {
		t.Fatalf("two stations holding a file the county has: %d chunks and %d status requests; want 0 and 2", p2-puts, s2-statuses)
	}
}

// Records never wait behind a file: visits saved while a 1 MB photo crawls
// up a slow link reach the county before the photo does, each within about
// a chunk's time.
func TestRecordsGoUpWhileAFileCrawls(t *testing.T) {
	c := testsupport.NewCounty(t)
	cfg := testsupport.FastConfig()
	s := testsupport.NewStation(t, c, villageA, cfg)
	vid := visitAtCounty(t, s, 5)
	l, err := s.Store.Get(context.Background(), records.Visit, vid)
	if err != nil {
		t.Fatal(err)
	}
	pid := records.TextValue(l.Fields, "person_id")
	hash := attach(t, s, vid, "IMG_0005.JPG", noisePhoto(1400, 1050, 5))
	want := stationCopy(t, s, hash)
	ft := watchFiles(c)
	// 128 KiB/s: a chunk in half a second, the photo in eight.
	const rate = 128 << 10
	c.Link.Set(linkem.Options{UpBytesPerSec: rate, Latency: 20 * time.Millisecond})
	s.Start()
	defer s.Halt()

	arrived := func() bool {
		fs, err := c.Store.Files(context.Background(), []string{hash})
		return err == nil && fs[hash].Size > 0
	}
	var waits []time.Duration
	g := gen.New(55)
	r := rand.New(rand.NewPCG(55, 1))
	for i := range 3 {
		// Saved at a random point of a chunk's way up.
		for at := int64(i+2)*chunk*2 + r.Int64N(chunk); ft.read.Load() < at; {
			time.Sleep(10 * time.Millisecond)
		}
		v := testsupport.Fields(g.Visit(pid, time.Now()))
		if i == 1 {
			v["risk"] = records.JSONText("紧急")
			v["measures"] = records.JSONText("已送医")
		}
		t0 := time.Now()
		id := s.MustSave(t, records.Visit, "", v)
		for {
			if _, err := c.Store.Record(context.Background(), records.Visit, id, ""); err == nil {
				break
			}
			if arrived() {
				t.Fatalf("visit %d: the photo reached the county before the visit saved during its upload", i)
			}
			if time.Since(t0) > 30*time.Second {
				t.Fatalf("visit %d not at the county after 30 s", i)
			}
			time.Sleep(5 * time.Millisecond)
		}
		waits = append(waits, time.Since(t0))
		if arrived() {
			t.Fatalf("visit %d arrived only with the photo", i)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for !arrived() {
		if time.Now().After(deadline) {
			t.Fatal("photo not at the county after a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Halt()
	assertCountyHas(t, c, hash, want)
	perChunk := time.Duration(float64(chunk) / rate * float64(time.Second))
	t.Logf("records waited %v behind a %d-byte photo (a chunk takes %v on this link)", waits, len(want), perChunk)
	for i, w := range waits {
		// One chunk in flight, then the push itself, plus the loop's
		// polling: well under three chunks.
		if w > 3*perChunk+time.Second {
			t.Fatalf("visit %d waited %v, more than a chunk's time", i, w)
		}
	}
}

// A file that no record of the station's village names is not taken: a
// station cannot use the county as a store for anything, and a file of a
// record the county rejected waits at the station.
func TestFileOfNoRecordWaits(t *testing.T) {
	c := testsupport.NewCounty(t)
	s := testsupport.NewStation(t, c, villageA, agent.Config{})
	vid := visitAtCounty(t, s, 6)
	ft := watchFiles(c)
	scan := scanPDF(100<<10, 6)
	hash := attach(t, s, vid, "a.pdf", scan)
	// The county learns of the record only after the file was asked about:
	// here, never (the record's change is dropped on the way).
	inner := c.Handler()
	c.SetHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/push" {
			http.Error(w, "blocked by the test", http.StatusBadGateway)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	// Push is refused (the change stays queued); the round fails before
	// files, which come after the records.
	if _, err := s.SyncOnce(context.Background()); err == nil {
		t.Fatal("a round with its push refused ended well")
	}
	if _, puts := ft.counts(); puts != 0 {
		t.Fatalf("%d chunks sent while the record naming the file had not gone up", puts)
	}
	// The record goes up; now the file follows.
	c.SetHandler(inner)
	if res := s.MustSync(t); res.Files != 1 {
		t.Fatalf("%d files acknowledged, want 1", res.Files)
	}
	assertCountyHas(t, c, hash, scan)
}
