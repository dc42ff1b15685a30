package integration

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/gen"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
	"stationsync/server"
)

// A 紧急 visit saved while the station is pulling a long catch-up goes up
// before the next page, in the same round, not after the whole download:
// the station pushes between pages whenever an urgent change waits. Seqs
// stay in order (the push sends the outbox from its lowest seq as always).
func TestUrgentVisitGoesUpDuringALongPull(t *testing.T) {
	c := testsupport.NewCounty(t)
	a := testsupport.NewStation(t, c, villageA, agent.Config{PageSize: 2})
	pid := a.MustSave(t, records.Person, "", testsupport.Fields(gen.New(7).Person(villageA)))
	a.MustSync(t)
	b := newStation(t, c, villageA, nil)
	b.AddPeople(t, gen.New(8), villageA, 10) // 30 records for a to pull, 15 pages
	b.MustSync(t)

	var (
		mu     sync.Mutex
		pulls  int
		urgent string
		log    []string
	)
	inner := server.New(c.Store, testsupport.Quiet).NewHandler()
	h := http.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		log = append(log, r.Method+" "+r.URL.Path)
		if r.URL.Path == "/v1/pull" {
			pulls++
			if pulls == 2 {
				// The cadre saves an urgent visit while the pages come down.
				v := testsupport.Fields(gen.New(9).Visit(pid, time.Now()))
				v["risk"] = records.JSONText("紧急")
				v["measures"] = records.JSONText("已送医")
				urgent = a.MustSave(t, records.Visit, "", v)
			}
		}
		mu.Unlock()
		inner.ServeHTTP(w, r)
	}))
	c.SetHandler(h)

	a.MustSync(t)
	mu.Lock()
	defer mu.Unlock()
	if pulls < 5 {
		t.Fatalf("only %d pull pages: the test needs a long catch-up", pulls)
	}
	if _, err := c.Store.Record(context.Background(), records.Visit, urgent, ""); err != nil {
		t.Fatalf("the urgent visit did not reach the county in the round it was saved in: %v (requests %v)", err, log)
	}
	// It went up between pages, not after the last one.
	last := -1
	for i, l := range log {
		if l == "POST /v1/push" {
			last = i
		}
	}
	if last < 0 || last == len(log)-1 || log[len(log)-1] != "GET /v1/pull" {
		t.Fatalf("the push was not made between pull pages: %v", log)
	}
	if n := a.Pending(t); n != 0 {
		t.Fatalf("%d changes still queued", n)
	}
}
