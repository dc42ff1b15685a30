package integration

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/blobstore"
	"stationsync/internal/linkem"
	"stationsync/internal/testsupport"
	"stationsync/syncproto"
)

// An acknowledged photo leaves the station's disk after the configured
// time and comes back from the county when asked: not while the link is
// down (a Chinese answer, the state kept), resumed after a cut where the
// kept bytes end, checked against its hash, and acknowledged again. A
// station of the same village fetches a photo another station attached.
func TestEvictedFileFetchedBack(t *testing.T) {
	ctx := context.Background()
	c := testsupport.NewCounty(t)
	s := testsupport.NewStation(t, c, villageA, agent.Config{Attach: agent.AttachConfig{EvictAfter: time.Nanosecond}})
	vid := visitAtCounty(t, s, 21)
	hash := attach(t, s, vid, "IMG_0021.JPG", noisePhoto(1400, 1050, 21))
	want := stationCopy(t, s, hash)
	if res := s.MustSync(t); res.Files != 1 {
		t.Fatalf("photo not sent: %+v", res)
	}
	if res, err := s.EvictFiles(ctx); err != nil || res.Files != 1 {
		t.Fatalf("evict: %+v %v", res, err)
	}
	if st := fileState(t, s, vid, hash).State; st != agent.FileEvicted {
		t.Fatalf("state %q after eviction", st)
	}
	if _, err := s.OpenAttachment(hash); !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("evicted file still opens: %v", err)
	}

	// Offline: said so, nothing changes.
	c.LinkDown()
	if err := s.FetchFile(ctx, vid, hash); !errors.Is(err, agent.ErrFetchOffline) {
		t.Fatalf("fetch with the link down: %v", err)
	}
	if st := fileState(t, s, vid, hash).State; st != agent.FileEvicted {
		t.Fatalf("state %q after a failed fetch", st)
	}

	// Cut after 300 KB of the answer: what came is kept, the next fetch
	// asks from there.
	var mu sync.Mutex
	var offsets []int64
	inner := c.Handler()
	c.SetHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, syncproto.PathFiles) {
			off, _ := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
			mu.Lock()
			offsets = append(offsets, off)
			mu.Unlock()
		}
		inner.ServeHTTP(w, r)
	}))
	c.Link.Set(linkem.Options{CutDownAfterBytes: 300 << 10})
	if err := s.FetchFile(ctx, vid, hash); !errors.Is(err, agent.ErrFetchOffline) {
		t.Fatalf("fetch over a link cut after 300 KB: %v", err)
	}
	c.LinkUp()
	if err := s.FetchFile(ctx, vid, hash); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	mu.Lock()
	t.Logf("fetch requests from offsets %v", offsets)
	if len(offsets) != 2 || offsets[0] != 0 || offsets[1] < 250<<10 {
		t.Fatalf("fetch requests from %v; want 0, then where the kept bytes end", offsets)
	}
	mu.Unlock()
	if got := stationCopy(t, s, hash); string(got) != string(want) {
		t.Fatal("fetched file differs from the one attached")
	}
	at := fileState(t, s, vid, hash)
	if at.State != agent.FileAcked {
		t.Fatalf("state %q after the fetch", at.State)
	}
	// Fetched again counts anew: the next pass leaves it for the
	// configured time (here a nanosecond, so it goes again).
	if res, err := s.EvictFiles(ctx); err != nil || res.Files != 1 {
		t.Fatalf("evict after fetch: %+v %v", res, err)
	}

	// Another station of the village: the visit came down with its photo's
	// hash; the photo comes on demand.
	b := testsupport.NewStation(t, c, villageA, agent.Config{})
	b.MustSync(t)
	if st := fileState(t, b, vid, hash).State; st != "" {
		t.Fatalf("second station: state %q before fetching", st)
	}
	if err := b.FetchFile(ctx, vid, hash); err != nil {
		t.Fatalf("second station's fetch: %v", err)
	}
	if got := stationCopy(t, b, hash); string(got) != string(want) {
		t.Fatal("second station's copy differs")
	}
	if at := fileState(t, b, vid, hash); at.State != agent.FileAcked || at.Type != "image/jpeg" || at.Size != int64(len(want)) {
		t.Fatalf("second station's row: %+v", at)
	}
	// A station of another village cannot: its records do not name it.
	o := testsupport.NewStation(t, c, villageB, agent.Config{})
	ovid := visitAtCounty(t, o, 22)
	if err := o.FetchFile(ctx, ovid, hash); !errors.Is(err, agent.ErrNotFound) {
		t.Fatalf("other village's station fetching a file its record does not name: %v", err)
	}
}
