package bundle

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/gen"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
	"stationsync/server"
)

// Bundles and the network are one protocol: any interleaving of station
// edits, exports, imports at the county (of any uplink, again and out of
// order), online rounds, county decisions and downlink imports (any,
// again, out of order) converges with every change applied once. Checked
// twice: after a last trip by stick alone, and after the link is back.
func TestInterleavingsConverge(t *testing.T) {
	seed := testsupport.Seed(t, "BUNDLE_SEED")
	runs, steps := 12, 60
	if testing.Short() {
		runs, steps = 4, 40
	}
	for run := range runs {
		t.Run(fmt.Sprint(run), func(t *testing.T) {
			interleave(t, seed+uint64(run), steps)
		})
	}
}

// world is one run's county, station and what the test did to them.
type world struct {
	t       *testing.T
	ctx     context.Context
	rng     *rand.Rand
	g       *gen.Generator
	c       *testsupport.County
	s       *testsupport.Station
	stick   string
	uplinks []string
	downs   []string
	persons []string
	visits  []string
	apps    map[string][]string // application → the history it must have, in order
	files   []string
	log     []string
}

func interleave(t *testing.T, seed uint64, steps int) {
	w := &world{t: t, ctx: context.Background(), rng: rand.New(rand.NewPCG(seed, 17)), g: gen.New(int64(seed)), apps: map[string][]string{}}
	w.c = testsupport.NewCounty(t)
	w.s = testsupport.NewStation(t, w.c, village, agent.Config{})
	w.stick = t.TempDir()
	w.c.LinkDown()
	defer func() {
		if t.Failed() {
			t.Logf("steps: %s", strings.Join(w.log, ", "))
		}
	}()
	for range steps {
		switch n := w.rng.IntN(100); {
		case n < 40:
			w.edit()
		case n < 55:
			w.export()
		case n < 70:
			w.countyImport()
		case n < 80:
			w.online()
		case n < 95:
			w.downlinkImport()
		default:
			w.decide()
		}
	}
	// A last trip by stick alone brings both sides level.
	w.export()
	w.countyImportOf(w.uplinks[len(w.uplinks)-1])
	w.downlinkImportOf(w.downs[len(w.downs)-1])
	w.check("after a last trip by stick")
	if w.s.Pending(t) != 0 {
		t.Fatalf("%d changes still queued after the last trip", w.s.Pending(t))
	}
	// And the link finds nothing left, and changes nothing.
	w.c.LinkUp()
	testsupport.Settle(t, []*testsupport.Station{w.s}, time.Minute)
	w.check("after the link is back")
}

func (w *world) edit() {
	t, ctx := w.t, w.ctx
	switch n := w.rng.IntN(10); {
	case n < 3 || len(w.persons) == 0:
		w.persons = append(w.persons, w.s.MustSave(t, records.Person, "", testsupport.Fields(w.g.Person(village))))
		w.log = append(w.log, "person")
	case n < 5:
		id := w.persons[w.rng.IntN(len(w.persons))]
		w.s.MustSave(t, records.Person, id, testsupport.EditFields(w.rng))
		w.log = append(w.log, "edit")
	case n < 8:
		pid := w.persons[w.rng.IntN(len(w.persons))]
		w.visits = append(w.visits, w.s.MustSave(t, records.Visit, "", testsupport.Fields(w.g.Visit(pid, time.Now()))))
		w.log = append(w.log, "visit")
	case n < 9 && len(w.visits) > 0:
		v := w.visits[w.rng.IntN(len(w.visits))]
		h, err := w.s.Attach(ctx, v, "照片.png", "测试员", bytes.NewReader(pngPhoto(t, w.rng)))
		if err != nil {
			t.Fatal(err)
		}
		w.files = append(w.files, h)
		w.log = append(w.log, "photo")
	default:
		pid := w.persons[w.rng.IntN(len(w.persons))]
		app := w.s.MustSave(t, records.Application, "", testsupport.Fields(w.g.Application(pid, nil)))
		if err := w.s.Store.Intent(ctx, app, records.OpSubmit, "", "测试员"); err != nil {
			t.Fatal(err)
		}
		w.apps[app] = []string{string(records.OpSubmit)}
		w.log = append(w.log, "application")
	}
}

func (w *world) export() {
	res, err := w.s.Export(w.ctx, w.stick)
	if err != nil {
		w.t.Fatalf("export: %v", err)
	}
	w.uplinks = append(w.uplinks, res.Path)
	w.log = append(w.log, fmt.Sprintf("export#%d(%d)", len(w.uplinks), res.Changes))
}

func (w *world) countyImport() {
	if len(w.uplinks) == 0 {
		return
	}
	w.countyImportOf(w.uplinks[w.rng.IntN(len(w.uplinks))])
}

func (w *world) countyImportOf(path string) {
	res, err := importAtCounty(w.ctx, w.c, path, w.stick)
	if err != nil {
		w.t.Fatalf("county import of %s: %v", path, err)
	}
	if len(res.Warnings) > 0 {
		w.t.Fatalf("county import of %s: %v", path, res.Warnings)
	}
	w.downs = append(w.downs, res.Downlink)
	w.log = append(w.log, fmt.Sprintf("import#%d(new %d dup %d)", len(w.downs), res.Applied, res.Duplicate))
}

func (w *world) online() {
	w.c.LinkUp()
	_, err := w.s.SyncOnce(w.ctx)
	w.c.LinkDown()
	if err != nil {
		w.t.Fatalf("online round: %v", err)
	}
	w.log = append(w.log, "online")
}

func (w *world) downlinkImport() {
	if len(w.downs) == 0 {
		return
	}
	w.downlinkImportOf(w.downs[w.rng.IntN(len(w.downs))])
}

func (w *world) downlinkImportOf(path string) {
	res, err := w.s.Import(w.ctx, path)
	if err != nil {
		w.t.Fatalf("downlink import of %s: %v", path, err)
	}
	if len(res.Warnings) > 0 {
		w.t.Fatalf("downlink import of %s: %v", path, res.Warnings)
	}
	w.log = append(w.log, fmt.Sprintf("down(ack %d pulled %d)", res.Acked, res.Pulled))
}

// decide moves an application the county holds one step on: accepted,
// under review, approved. Each step is a newer state of the record, which
// a downlink written before it must never bring back.
func (w *world) decide() {
	steps := []server.Decision{
		{Op: records.OpAccept, By: "县民政局"},
		{Op: records.OpReview, By: "县民政局"},
		{Op: records.OpApprove, By: "县民政局", AmountFen: 30000, FromMonth: "2026-12", Comment: "符合条件"},
	}
	for _, app := range slices.Sorted(mapsKeys(w.apps)) {
		done := len(w.apps[app]) - 1
		if done >= len(steps) {
			continue
		}
		d := steps[done]
		d.ApplicationID = app
		if err := w.c.Store.Decide(w.ctx, d); err != nil {
			continue // not at the county yet
		}
		w.apps[app] = append(w.apps[app], string(d.Op))
		w.log = append(w.log, string(d.Op))
		return
	}
}

// check: the station holds exactly the county's records, the county
// holds every record the station made once and every file, and each
// application's history is what happened, once each.
func (w *world) check(when string) {
	t := w.t
	t.Helper()
	testsupport.AssertConverged(t, w.c, w.s, village)
	for kind, want := range map[records.Kind]int{records.Person: len(w.persons), records.Visit: len(w.visits), records.Application: len(w.apps)} {
		if got := len(w.c.Records(t, kind, village)); got != want {
			t.Fatalf("%s: county holds %d %s, the station made %d", when, got, kind, want)
		}
	}
	for _, r := range w.c.Records(t, records.Application, village) {
		if got, want := r.History, w.apps[r.ID]; !slices.Equal(got, want) {
			t.Fatalf("%s: application %s history %v, want %v", when, r.ID, got, want)
		}
	}
	for _, h := range w.files {
		if !hasFile(t, w.c, h) {
			t.Fatalf("%s: county lacks file %s", when, h)
		}
	}
	var pending int
	if err := w.s.Store.DB().R.QueryRow(`SELECT count(*) FROM attachments WHERE state != 'acked'`).Scan(&pending); err != nil || pending != 0 {
		t.Fatalf("%s: %d files not acknowledged at the station (%v)", when, pending, err)
	}
}

func mapsKeys(m map[string][]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
