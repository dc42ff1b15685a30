package e2e

import (
	"math/rand/v2"
	"testing"
	"time"

	"stationsync/internal/gen"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
)

// seedFor returns the seed of a test: $E2E_SEED if set (to replay a
// failure), otherwise the clock. It is logged either way.
func seedFor(t *testing.T) uint64 {
	t.Helper()
	return testsupport.Seed(t, "E2E_SEED")
}

// workload makes records for one station from a seed and keeps, beside the
// oracle, what later records refer to.
type workload struct {
	t       *testing.T
	g       *gen.Generator
	rng     *rand.Rand
	village string
	persons []string
	pmap    map[string]map[string]any
	drafts  []string // applications not yet submitted
}

func newWorkload(t *testing.T, seed uint64, village string) *workload {
	return &workload{t: t, g: gen.New(int64(seed)), rng: rand.New(rand.NewPCG(seed, 0x65326574)), village: village, pmap: map[string]map[string]any{}}
}

func (w *workload) person() (map[string]any, records.Fields) {
	p := w.g.Person(w.village)
	return p, testsupport.Fields(p)
}

func (w *workload) somePerson() string { return w.persons[w.rng.IntN(len(w.persons))] }

func (w *workload) visit(personID string) records.Fields {
	return testsupport.Fields(w.g.Visit(personID, time.Now().AddDate(0, 0, -w.rng.IntN(90))))
}

func (w *workload) application(personID string) records.Fields {
	return testsupport.Fields(w.g.Application(personID, w.pmap[personID]))
}

// edit is a change of fields the station and the county may both edit.
func (w *workload) edit() records.Fields { return testsupport.EditFields(w.rng) }
