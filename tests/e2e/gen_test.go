package e2e

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"stationsync/internal/gen"
	"stationsync/internal/records"
)

// seedFor returns the seed of a test: $E2E_SEED if set (to replay a
// failure), otherwise the clock. It is logged either way.
func seedFor(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("E2E_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("E2E_SEED: %v", err)
		}
		seed = n
	}
	t.Logf("seed %d (replay with E2E_SEED=%d)", seed, seed)
	return seed
}

// fields turns a generated record into the fields a station saves.
func fields(t *testing.T, m map[string]any) records.Fields {
	t.Helper()
	out := records.Fields{}
	for k, v := range m {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = b
	}
	return out
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
	return p, fields(w.t, p)
}

func (w *workload) somePerson() string { return w.persons[w.rng.IntN(len(w.persons))] }

func (w *workload) visit(personID string) records.Fields {
	return fields(w.t, w.g.Visit(personID, time.Now().AddDate(0, 0, -w.rng.IntN(90))))
}

func (w *workload) application(personID string) records.Fields {
	return fields(w.t, w.g.Application(personID, w.pmap[personID]))
}

var healthNotes = []string{"身体健康", "高血压，需按时服药", "行动不便，需要照料", "近期住院，已出院", "视力下降", "精神状态良好"}

// edit is a change of fields the station and the county may both edit.
func (w *workload) edit() records.Fields {
	return records.Fields{
		"health": records.JSONText(healthNotes[w.rng.IntN(len(healthNotes))] + "（" + strconv.Itoa(w.rng.IntN(1000)) + "）"),
		"phone":  records.JSONText("139" + strconv.Itoa(10000000+w.rng.IntN(89999999))),
	}
}
