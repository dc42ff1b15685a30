package integration

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/gen"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
)

// On a fast link a batch goes ahead while the county merges the one in
// front of it. Here the county's front holds the first push of a round
// back, so the batch behind it arrives first and is answered "gap": the
// station sends it again after the first, without mistaking the gap for
// a county that lost changes (which would queue everything anew under a
// new epoch). Every change arrives once.
func TestBatchAheadArrivingFirstIsSentAgain(t *testing.T) {
	ctx := context.Background()
	c := testsupport.NewCounty(t)
	real := c.Handler()
	var hold atomic.Bool
	var pushes, gaps atomic.Int32
	front := http.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/push" {
			real.ServeHTTP(w, r)
			return
		}
		pushes.Add(1)
		if hold.CompareAndSwap(true, false) {
			time.Sleep(300 * time.Millisecond)
		}
		rec := httptest.NewRecorder()
		real.ServeHTTP(rec, r)
		if rec.Code == http.StatusConflict {
			gaps.Add(1)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	c.SetHandler(front)

	s := testsupport.NewStation(t, c, villageA, agent.Config{BatchSize: 20, Ahead: agent.AheadAlways})
	g := gen.New(31)
	first, _ := s.AddPeople(t, g, villageA, 5)
	s.MustSync(t)
	epoch := s.Store.Meta(ctx, "epoch")

	persons, visits := s.AddPeople(t, g, villageA, 40) // 120 changes: six pushes
	hold.Store(true)
	pushes.Store(0)
	res := s.MustSync(t)
	if gaps.Load() == 0 {
		t.Fatalf("no batch overtook the held one (%d pushes): the test did not test anything", pushes.Load())
	}
	if want := len(persons) + len(visits); res.Pushed != want {
		t.Fatalf("round pushed %d changes, want %d", res.Pushed, want)
	}
	if got := s.Store.Meta(ctx, "epoch"); got != epoch {
		t.Fatalf("station moved to a new epoch (%s → %s): it took the gap for lost changes", epoch, got)
	}
	if got, want := len(c.Records(t, records.Person, "")), len(first)+len(persons); got != want {
		t.Fatalf("county holds %d people, want %d", got, want)
	}
	if got, want := len(c.Records(t, records.Visit, "")), 2*(len(first)+len(persons)); got != want {
		t.Fatalf("county holds %d visits, want %d", got, want)
	}
	testsupport.AssertConverged(t, c, s, villageA)
}
