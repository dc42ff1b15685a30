package server

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"stationsync/internal/gen"
	"stationsync/internal/hlc"
	"stationsync/internal/pgdb/pgtest"
	"stationsync/internal/records"
)

func openTestStore(t testing.TB) *CountyStore { t.Helper(); return openTestStoreFor(t, "") }

// openTestStoreFor opens an empty county store for county, on PostgreSQL
// when the run asks for it (pgtest.StoreEnv), else on SQLite.
func openTestStoreFor(t testing.TB, county string) *CountyStore {
	t.Helper()
	ctx := context.Background()
	var s *CountyStore
	var err error
	if pgtest.Postgres() {
		s, err = OpenPostgres(ctx, pgtest.NewSchema(t), t.TempDir(), county)
	} else {
		s, err = OpenSQLite(ctx, filepath.Join(t.TempDir(), "county.db"), county)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func applyAll(t *testing.T, s *CountyStore, changes []*change) {
	t.Helper()
	err := s.countyWrite(context.Background(), func(tx *sql.Tx, m *merger) error {
		for _, c := range changes {
			cc := *c
			if _, err := m.apply(&cc); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

const village = "340123101201"

func personCreate(id string, h hlc.Timestamp) *change {
	return &change{origin: "st_a", village: village, kind: records.Person, id: id, op: records.OpUpsert, hlc: h, by: "甲",
		fields: records.Fields{
			"name": json.RawMessage(`"王秀英"`), "id_number": json.RawMessage(`"11010519491231002X"`),
			"categories": json.RawMessage(`["农村留守老年人"]`), "phone": json.RawMessage(`"13800000000"`),
		}}
}

type outcomeState struct {
	fields string
	losers []string
}

func mergedState(t *testing.T, s *CountyStore, id string) outcomeState {
	t.Helper()
	recs, err := s.Records(context.Background(), records.Person, village)
	if err != nil || len(recs) != 1 {
		t.Fatalf("records: %v %d", err, len(recs))
	}
	f, _ := json.Marshal(recs[0].Fields)
	cs, err := s.Conflicts(context.Background(), village)
	if err != nil {
		t.Fatal(err)
	}
	var losers []string
	for _, c := range cs {
		losers = append(losers, c.Field+"="+string(c.Loser))
	}
	slices.Sort(losers)
	return outcomeState{fields: string(f), losers: losers}
}

// Property: concurrent edits (each based on the same version) from
// different stations and the county converge to the same record and keep
// the same set of losing values, whatever order they arrive in, and
// however often each is repeated.
func TestMergeOrderAndRepetitionDoNotMatter(t *testing.T) {
	seeds := 40
	if pgtest.Postgres() {
		// 200 stores are 60 s on PostgreSQL (a schema and its migration
		// each); the merge's logic is the same Go on both engines, so
		// PostgreSQL checks its SQL on the first 8 seeds.
		seeds = 8
	}
	for seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 7))
			base := hlc.Make(1_700_000_000_000, 0)
			create := personCreate("p1", base)
			origins := []string{"st_a", "st_b", "st_c", CountyOrigin}
			phones := []string{"13911110000", "13922220000", "13933330000", "13944440000", "13955550000"}
			var edits []*change
			used := map[hlc.Timestamp]bool{}
			for i := range 2 + rng.IntN(5) {
				h := base + hlc.Timestamp(1+rng.IntN(1000))
				for used[h] {
					h++
				}
				used[h] = true
				f := "phone"
				if rng.IntN(3) == 0 {
					f = "address"
				}
				val, _ := json.Marshal(phones[rng.IntN(len(phones))] + fmt.Sprint(i))
				// Every edit comes from its own origin, so none is
				// sequential after another: all are concurrent.
				edits = append(edits, &change{origin: origins[i%len(origins)] + fmt.Sprint(i), village: village, kind: records.Person, id: "p1",
					op: records.OpUpsert, hlc: h, by: "乙", fields: records.Fields{f: val}, base: map[string]uint64{f: uint64(base)}})
			}
			var want *outcomeState
			for range 5 {
				order := slices.Clone(edits)
				rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
				s := openTestStore(t)
				applyAll(t, s, append([]*change{create}, order...))
				got := mergedState(t, s, "p1")
				if want == nil {
					want = &got
					continue
				}
				if got.fields != want.fields || !slices.Equal(got.losers, want.losers) {
					t.Fatalf("order changed the result:\n%+v\n%+v", got, *want)
				}
			}
		})
	}
}

// Repetition through the real Push path: a batch applied twice leaves the
// store as once.
func TestPushTwiceIsOnce(t *testing.T) {
	// Covered with real HTTP in tests/integration (replayed batches); here
	// the store alone, so a dedup regression is caught without a server.
	s := openTestStore(t)
	ctx := context.Background()
	st := enrollTest(t, s)
	b := batchOf(st, personCreate("p1", hlc.Make(1_700_000_000_000, 0)))
	r1, err := s.Push(ctx, st, b)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.Push(ctx, st, b)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Results[0].Status != "applied" || r2.Results[0].Status != "duplicate" {
		t.Fatalf("results %+v %+v", r1.Results, r2.Results)
	}
	recs, _ := s.Records(ctx, records.Person, village)
	if len(recs) != 1 || recs[0].Rev != 1 {
		t.Fatalf("after two pushes: %d records, rev %d", len(recs), recs[0].Rev)
	}
}

// A record made by one change is stored with no versions or origins of
// its own (all are its base and created origin), whatever else the batch
// does to it afterwards.
func TestNewRecordsStoreOnlyDifferingVersions(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	st := enrollTest(t, s)
	t0 := hlc.FromTime(time.Now())
	p1, p2, a1 := uuid.NewString(), uuid.NewString(), uuid.NewString()
	g := gen.New(1)
	app := fieldsOf(g.Application(p1, g.Person(village)))
	edit := &change{kind: records.Person, id: p1, op: records.OpUpsert, hlc: t0 + 5, by: "乙", rev: 1,
		fields: records.Fields{"phone": json.RawMessage(`"13911112222"`)}}
	b := batchOf(st, personCreate(p1, t0), personCreate(p2, t0+1), edit,
		&change{kind: records.Application, id: a1, op: records.OpUpsert, hlc: t0 + 6, by: "乙", fields: app})
	res, err := s.Push(ctx, st, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Results {
		if r.Status != "applied" {
			t.Fatalf("results %+v", res.Results)
		}
	}
	for _, want := range []struct{ table, id, versions, origins, status string }{
		{"persons", p1, fmt.Sprintf(`{"phone":%d}`, t0+5), "{}", "null"},
		{"persons", p2, "{}", "{}", "null"},
		{"applications", a1, "{}", "{}", "draft"},
	} {
		var versions, origins string
		var status sql.NullString
		err := s.db.R.QueryRow(`SELECT versions, origins, status FROM `+want.table+` WHERE id = ?`, want.id).Scan(&versions, &origins, &status)
		if err != nil {
			t.Fatal(err)
		}
		if got := cmp.Or(status.String, "null"); versions != want.versions || origins != want.origins || got != want.status {
			t.Fatalf("%s %s: versions %s, origins %s, status %s; want %s, %s, %s", want.table, want.id, versions, origins, got, want.versions, want.origins, want.status)
		}
	}
	recs, err := s.Records(ctx, records.Person, village)
	if err != nil || len(recs) != 2 {
		t.Fatalf("records: %d (%v)", len(recs), err)
	}
	for _, r := range recs {
		if v := r.Versions; r.ID == p1 && (v["phone"] != uint64(t0+5) || v["name"] != uint64(t0)) {
			t.Fatalf("p1's versions %v", v)
		}
	}
}
