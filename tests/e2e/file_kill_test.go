package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"stationsync/internal/linkem"
	"stationsync/internal/records"
	"stationsync/internal/testproc"
	"stationsync/internal/testsupport"
	"stationsync/syncproto"
)

// twoG is the link of the figures: 64 kbit/s each way, 300 ms one
// way. A 64 KiB chunk takes about 8.5 s to cross it.
var twoG = linkem.Options{Latency: 300 * time.Millisecond, UpBytesPerSec: 8000, DownBytesPerSec: 8000}

// chunkWatch stands between the link and the county-server process and
// sees what of the attachment chunks reached the county: the bytes of each
// chunk body read (cut ones too), the offset each chunk was sent from, and
// whether a request is still being answered.
type chunkWatch struct {
	mu       sync.Mutex
	read     int64   // chunk body bytes that reached the county
	offsets  []int64 // of each chunk, in arrival order
	inFlight int     // requests of any kind not yet answered
	putOpen  int     // chunk requests not yet answered
	answered int     // chunk requests answered
}

func (cw *chunkWatch) snapshot() (read int64, puts int) {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	return cw.read, len(cw.offsets)
}

type watchedBody struct {
	io.ReadCloser
	cw *chunkWatch
}

func (b watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.cw.mu.Lock()
	b.cw.read += int64(n)
	b.cw.mu.Unlock()
	return n, err
}

func newChunkWatch(t *testing.T, county string) (*chunkWatch, string) {
	t.Helper()
	target, err := url.Parse(county)
	if err != nil {
		t.Fatal(err)
	}
	cw := &chunkWatch{}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = log.New(io.Discard, "", 0) // a killed agent's cut requests
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		put := r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, syncproto.PathFiles)
		cw.mu.Lock()
		cw.inFlight++
		if put {
			cw.putOpen++
			off, _ := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
			cw.offsets = append(cw.offsets, off)
			r.Body = watchedBody{r.Body, cw}
		}
		cw.mu.Unlock()
		defer func() {
			cw.mu.Lock()
			cw.inFlight--
			if put {
				cw.putOpen--
				cw.answered++
			}
			cw.mu.Unlock()
		}()
		// The county's answer is awaited even when the agent is gone: a
		// chunk whose bytes all came is acknowledged at the county though
		// its answer finds no one.
		// (A context that can end, or the proxy falls back to
		// CloseNotify and cancels on the client's close all the same.)
		ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
		defer cancel()
		rp.ServeHTTP(w, r.WithContext(ctx))
	}))
	t.Cleanup(srv.Close)
	return cw, strings.TrimPrefix(srv.URL, "http://")
}

// settled waits until the link is quiet and the county has answered every
// request that reached it: bytes still in the link when the agent died go
// on arriving (a request's first bytes reach the county only after the
// link's latency), and the county acknowledges a chunk whose bytes all
// came. Quiet: no byte delivered for over twice the link's latency.
func (cw *chunkWatch) settled(t *testing.T, px *linkem.Proxy) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	quiet := 2*twoG.Latency + 100*time.Millisecond
	last, since := px.Stats().UpBytes, time.Now()
	for {
		cw.mu.Lock()
		n := cw.inFlight
		cw.mu.Unlock()
		if up := px.Stats().UpBytes; up != last {
			last, since = up, time.Now()
		}
		if n == 0 && time.Since(since) > quiet {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests still open at the county two minutes after the kill", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countyOffset reads, from the county's disk, how many bytes of the
// station's upload of hash the county has acknowledged; size when the file
// is whole in the shared store.
func countyOffset(t *testing.T, c *testsupport.CountyProc, station, hash string, size int64) int64 {
	t.Helper()
	files := filepath.Join(c.Data, "files")
	if _, err := os.Stat(filepath.Join(files, "objects", hash[:2], hash)); err == nil {
		return size
	}
	b, err := os.ReadFile(filepath.Join(files, "stations", station, "uploads", hash+".json"))
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Offset int64 }
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("county's upload state %s: %v", b, err)
	}
	return m.Offset
}

// randomPDF is a scan of n bytes: kept byte for byte by the station, so
// its size is what the test chooses.
func randomPDF(n int, seed uint64) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	copy(b, "%PDF-1.4\n")
	copy(b[n-7:], "\n%%EOF\n")
	return b
}

// TestFileUploadKilled attaches a scan of several chunks at a station,
// starts `station-agent run` over an emulated 2G link and SIGKILLs it at a
// random moment, again and again: between chunks, inside one, now and then
// before the first chunk; half the kills take the link down with them (a
// power cut: the bytes in flight are lost). After every restart the upload must go on from
// the offset the county acknowledged (read from the county's disk), never
// from zero; in the end the county holds the file once, whole, its hash
// checked. The bytes sent again per cut are the chunk bytes that reached
// the county in a run minus what it acknowledged in that run.
func TestFileUploadKilled(t *testing.T) {
	// make test's bounded run: 8 kills over a 6-chunk scan (each chunk
	// is 8 s of 2G); FILE_KILLS=1 is the full run of the figures in
	// README (16 kills, 12 chunks, about 2 min 40 s).
	kills, size := 8, 6*syncproto.DefaultFileChunk+12345
	switch {
	case os.Getenv("FILE_KILLS") != "":
		kills, size = 16, 12*syncproto.DefaultFileChunk+12345
	case testing.Short():
		kills, size = 3, 3*syncproto.DefaultFileChunk+4321
	}
	seed := seedFor(t)
	rng := rand.New(rand.NewPCG(seed, 0x66696c65))
	c := newCounty(t)
	c.Start()
	cw, watchAddr := newChunkWatch(t, c.URL())
	px := testsupport.NewLink(t, watchAddr, linkem.Options{})

	const village = "340123101201"
	s := newStation(t, village)
	s.Enroll(px.URL(), c.Code(village))
	w := newWorkload(t, seed, village)
	by := "王村干部"
	_, pf := w.person()
	pid := s.Add(records.Person, "", by, pf)
	vid := s.Add(records.Visit, "", by, w.visit(pid))

	scan := randomPDF(size, seed)
	sum := sha256.Sum256(scan)
	hash := hex.EncodeToString(sum[:])
	path := filepath.Join(t.TempDir(), "申请书.pdf")
	if err := os.WriteFile(path, scan, 0o600); err != nil {
		t.Fatal(err)
	}
	if out := testsupport.MustExec(t, []string{"LOG_LEVEL=info"}, nil, bin.Agent, "attach", "--data", s.Data, "--record", vid, "--by", by, path); !strings.HasPrefix(out, hash+"\t") {
		t.Fatalf("attach printed %q; want the scan's hash %s", out, hash)
	}
	px.Set(twoG)

	// Time of one chunk on the link, for where the kills land.
	chunkTime := time.Duration(float64(syncproto.DefaultFileChunk) / float64(twoG.UpBytesPerSec) * float64(time.Second))
	var resent, resentCut []int64 // per kill during the upload; those with the link cut
	var inChunk, between, blind int
	acked := int64(0)
	for cycle := 0; cycle < kills && acked < int64(size); cycle++ {
		read0, puts0 := cw.snapshot()
		agent := testproc.Start(t, s.Log, []string{"LOG_LEVEL=debug"}, bin.Agent, "run", "--interval", "200ms", "--listen", testsupport.FreeAddr(t), "--data", s.Data)
		start := time.Now()
		kind := ""
		switch cycle % 4 {
		case 3:
			// Blind: anywhere in the start, the push, the status request
			// or the first chunk.
			time.Sleep(time.Duration(rng.Int64N(int64(3 * time.Second))))
			kind = "blind"
		case 0:
			// Just after the county answered a chunk of this run: the
			// station is reading the answer, pushing records, or reading
			// and starting the next chunk.
			cw.mu.Lock()
			a0 := cw.answered
			cw.mu.Unlock()
			for {
				cw.mu.Lock()
				a := cw.answered
				cw.mu.Unlock()
				if a > a0 {
					break
				}
				if time.Since(start) > 2*time.Minute {
					t.Fatalf("cycle %d: no chunk answered within two minutes of the start", cycle)
				}
				time.Sleep(2 * time.Millisecond)
			}
			time.Sleep(time.Duration(rng.Int64N(int64(700 * time.Millisecond))))
		default:
			// From the first chunk of this run: 0–1.5 chunks later, so
			// some kills fall inside a chunk and some after an answer.
			for _, p := cw.snapshot(); p == puts0; _, p = cw.snapshot() {
				if time.Since(start) > time.Minute {
					t.Fatalf("cycle %d: no chunk sent within a minute of the start", cycle)
				}
				time.Sleep(5 * time.Millisecond)
			}
			time.Sleep(time.Duration(rng.Int64N(int64(chunkTime * 3 / 2))))
		}
		cw.mu.Lock()
		open := cw.putOpen
		cw.mu.Unlock()
		// Half the kills, at random, are power cuts: the link goes with the PC, and
		// what was still in it never arrives. Otherwise the PC's kernel
		// sends what the killed agent had written.
		powerCut := rng.IntN(2) == 0
		if powerCut {
			px.Set(linkem.Options{Down: true})
		}
		agent.Kill()
		killedAfter := time.Since(start)
		if !agent.KilledBySignal() {
			t.Fatalf("cycle %d: the agent ended before the kill: %v", cycle, agent.Err())
		}
		switch {
		case kind == "blind":
			blind++
		case open > 0:
			inChunk++
			kind = "inside a chunk"
		default:
			between++
			kind = "between chunks"
		}
		cw.settled(t, px)
		if powerCut {
			kind += ", link cut"
			px.Set(twoG)
		}
		read1, puts1 := cw.snapshot()
		now := countyOffset(t, c, s.ID, hash, int64(size))
		if puts1 > puts0 {
			cw.mu.Lock()
			first := cw.offsets[puts0]
			cw.mu.Unlock()
			// The run began where the county stood after the last kill.
			if first != acked {
				t.Fatalf("cycle %d: the restarted agent sent its first chunk from %d; the county had acknowledged %d", cycle, first, acked)
			}
		}
		if now < acked {
			t.Fatalf("cycle %d: the county's offset went back from %d to %d", cycle, acked, now)
		}
		lost := (read1 - read0) - (now - acked)
		if puts1 > puts0 {
			resent = append(resent, lost)
			if powerCut {
				resentCut = append(resentCut, lost)
			}
		}
		t.Logf("cycle %2d: killed %s after %v; %d chunks, county at %d of %d (+%d), %d bytes to send again",
			cycle, kind, killedAfter.Round(time.Millisecond), puts1-puts0, now, size, now-acked, lost)
		acked = now
	}

	// The link heals; the file goes up to the end.
	px.Set(linkem.Options{})
	s.SyncUntilDone(5)
	s.CheckDone()
	sdb := testsupport.OpenDB(t, s.DBPath(), true)
	var state string
	if err := sdb.QueryRow(`SELECT state FROM attachments WHERE hash = ?`, hash).Scan(&state); err != nil || state != "acked" {
		t.Fatalf("station: attachment state %q (%v), want acked", state, err)
	}
	sdb.Close()

	// At the county: once, whole, verified, nothing left of the upload.
	got, err := os.ReadFile(filepath.Join(c.Data, "files", "objects", hash[:2], hash))
	if err != nil {
		t.Fatalf("county has no copy: %v", err)
	}
	if gs := sha256.Sum256(got); hex.EncodeToString(gs[:]) != hash || len(got) != size {
		t.Fatalf("county's copy: %d bytes, hash %x; want %d bytes, %s", len(got), gs, size, hash)
	}
	cdb := testsupport.OpenDB(t, c.DBPath(), true)
	var rows int
	if err := cdb.QueryRow(`SELECT count(*) FROM files WHERE hash = ? AND size = ?`, hash, size).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("county lists the file %d times (%v), want once", rows, err)
	}
	cdb.Close()
	left, _ := filepath.Glob(filepath.Join(c.Data, "files", "stations", s.ID, "uploads", "*"))
	if len(left) != 0 {
		t.Fatalf("upload leftovers at the county: %v", left)
	}
	read, puts := cw.snapshot()
	c.Stop()
	c.CheckLog()
	testsupport.CheckIntegrity(t, s.DBPath())
	testsupport.CheckIntegrity(t, c.DBPath())

	// Every chunk after the first run went from an offset the county had
	// acknowledged: never from zero once it held bytes.
	cw.mu.Lock()
	var high int64
	for i, off := range cw.offsets {
		if off < high-int64(syncproto.DefaultFileChunk) || off%int64(syncproto.DefaultFileChunk) != 0 {
			t.Errorf("chunk %d went from %d after the county had %d", i, off, high)
		}
		high = max(high, off)
	}
	cw.mu.Unlock()
	total := read - int64(size)
	if len(resent) == 0 {
		t.Fatal("no kill fell during the upload")
	}
	slices.Sort(resent)
	slices.Sort(resentCut)
	if len(resentCut) == 0 {
		resentCut = []int64{0}
	}
	for _, r := range resent {
		if r > int64(syncproto.DefaultFileChunk) || r < 0 {
			t.Errorf("a cut cost %d bytes; at most one chunk (%d) may be sent again", r, syncproto.DefaultFileChunk)
		}
	}
	t.Logf("RESULT file-kill: size=%d chunk=%d kills=%d (inside a chunk %d, between chunks %d, blind %d) chunks=%d resent_total=%d resent_per_cut min=%d median=%d max=%d; with the link cut (%d) min=%d median=%d max=%d",
		size, syncproto.DefaultFileChunk, inChunk+between+blind, inChunk, between, blind, puts, total, resent[0], resent[len(resent)/2], resent[len(resent)-1],
		len(resentCut), resentCut[0], resentCut[len(resentCut)/2], resentCut[len(resentCut)-1])
}
