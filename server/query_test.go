package server

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"stationsync/internal/gen"
	"stationsync/internal/hlc"
	"stationsync/internal/records"
)

// visitFixture is a county of two townships, a few villages each, with
// people (some of them off the register) and visits of every risk over
// two years, merged as stations would send them.
type visitFixture struct {
	s        *CountyStore
	persons  map[string]personFix // by id
	visits   []visitFix
	villages []string
}

type personFix struct {
	village    string
	onRegister bool
}

type visitFix struct {
	id, person, village, on, risk string
}

func newVisitFixture(t *testing.T) *visitFixture {
	t.Helper()
	f := &visitFixture{s: openTestStore(t), persons: map[string]personFix{}}
	g := gen.New(7)
	h := hlc.FromTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var changes []*change
	add := func(village string, kind records.Kind, id string, fields records.Fields) {
		h++
		changes = append(changes, &change{origin: "st_" + village, village: village, kind: kind, id: id, op: records.OpUpsert, hlc: h, by: "甲", fields: fields})
	}
	for _, town := range []string{"340123101", "340123102"} {
		for v := range 3 {
			f.villages = append(f.villages, fmt.Sprintf("%s%03d", town, 201+v))
		}
	}
	from, to := time.Date(2024, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	for i := range 60 {
		village := f.villages[i%len(f.villages)]
		id := uuid.NewString()
		p := g.Person(village)
		on := i%7 != 3
		if !on {
			p["status"], p["exit_reason"] = "已退出", "迁出本村"
		}
		f.persons[id] = personFix{village: village, onRegister: on}
		add(village, records.Person, id, fieldsOf(p))
	}
	visit := func(pid string, v map[string]any) {
		vid := uuid.NewString()
		village := f.persons[pid].village
		f.visits = append(f.visits, visitFix{id: vid, person: pid, village: village, on: v["visited_on"].(string), risk: v["risk"].(string)})
		add(village, records.Visit, vid, fieldsOf(v))
	}
	ids := slices.Sorted(maps.Keys(f.persons))
	for i := range 600 {
		pid := ids[i%len(ids)]
		if i%11 == 0 {
			continue // some people are never visited
		}
		visit(pid, g.Visit(pid, g.Date(from, to)))
	}
	// In every village someone's last visit found an emergency, so that
	// the urgent list has rows in every scope.
	seen := map[string]bool{}
	for _, pid := range ids {
		if p := f.persons[pid]; !seen[p.village] {
			seen[p.village] = true
			v := g.Visit(pid, to.AddDate(0, 0, 1))
			for v["risk"] != "紧急" {
				v = g.Visit(pid, to.AddDate(0, 0, 1))
			}
			visit(pid, v)
		}
	}
	applyAll(t, f.s, changes)
	return f
}

// The reports and lists that read visits through visits_day, visits_person
// and the partial visits_flagged (migration 0006) count what a plain
// count over the visits gives.
func TestVisitReportsCountEveryVisit(t *testing.T) {
	ctx := context.Background()
	f := newVisitFixture(t)
	for _, scope := range []string{"", "340123102"} {
		in := func(village string) bool { return strings.HasPrefix(village, scope) }

		t.Run("by month "+scope, func(t *testing.T) {
			const from = "2025-06"
			want := map[[2]string]int{}
			for _, v := range f.visits {
				if in(v.village) && v.on >= from {
					want[[2]string{v.village[:9], v.on[:7]}]++
				}
			}
			counts, err := f.s.VisitsByMonth(ctx, scope, from)
			if err != nil {
				t.Fatal(err)
			}
			got := map[[2]string]int{}
			for _, c := range counts {
				got[[2]string{c.Key, c.Sub}] += c.N
			}
			if !maps.Equal(got, want) || len(counts) != len(want) {
				t.Fatalf("visits by month:\n got %v\nwant %v", got, want)
			}
		})

		t.Run("coverage "+scope, func(t *testing.T) {
			const from = "2026-08-01"
			want := map[[2]string]int{}
			visited := map[string]bool{}
			for _, v := range f.visits {
				if v.on >= from {
					visited[v.person] = true
				}
			}
			for id, p := range f.persons {
				if in(p.village) && p.onRegister {
					want[[2]string{p.village[:9], "all"}]++
					if visited[id] {
						want[[2]string{p.village[:9], "visited"}]++
					}
				}
			}
			counts, err := f.s.Coverage(ctx, scope, from)
			if err != nil {
				t.Fatal(err)
			}
			got := map[[2]string]int{}
			for _, c := range counts {
				got[[2]string{c.Key, c.Sub}] = c.N
			}
			if !maps.Equal(got, want) {
				t.Fatalf("coverage:\n got %v\nwant %v", got, want)
			}
		})

		for _, risk := range records.RiskLevels {
			t.Run("list "+risk+" "+scope, func(t *testing.T) {
				const from, to = "2025-03-01", "2026-02-28"
				var want []string
				for _, v := range f.visits {
					if in(v.village) && v.risk == risk && v.on >= from && v.on <= to {
						want = append(want, v.id)
					}
				}
				var got []string
				_, err := f.s.List(ctx, records.Visit, Filter{Scope: scope, Risk: risk, From: from, To: to, Limit: -1}, func(r Row) error {
					got = append(got, r.ID)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				total, err := f.s.List(ctx, records.Visit, Filter{Scope: scope, Risk: risk, From: from, To: to}, func(Row) error { return nil })
				if err != nil {
					t.Fatal(err)
				}
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) || total != len(want) || len(want) == 0 {
					t.Fatalf("%d visits listed (total %d), want %d", len(got), total, len(want))
				}
			})
		}

		t.Run("urgent "+scope, func(t *testing.T) {
			last := map[string]string{}
			for _, v := range f.visits {
				last[v.person] = max(last[v.person], v.on)
			}
			var want []string
			for _, v := range f.visits {
				if in(v.village) && v.risk == "紧急" && v.on == last[v.person] {
					want = append(want, v.id)
				}
			}
			var got []string
			total, err := f.s.FollowUp(ctx, FollowUrgent, scope, "", time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), -1, 0, func(r Row) error {
				got = append(got, r.ID)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) || len(want) == 0 {
				t.Fatalf("urgent follow-up lists %d (total %d), want %d (the fixture must have some)", len(got), total, len(want))
			}
		})
	}
}

// A risk filter reads the partial index of visits at risk, not every
// visit: the query must repeat the index's WHERE term, and nothing else
// holds it to that.
func TestRiskFilterUsesFlaggedIndex(t *testing.T) {
	s := openTestStore(t)
	for risk, want := range map[string]string{"紧急": "visits_flagged", "关注": "visits_flagged", records.RiskNormal: ""} {
		l, err := s.buildList(records.Visit, &Filter{Risk: risk})
		if err != nil {
			t.Fatal(err)
		}
		plan := queryPlan(t, s, l.count, l.args...)
		if uses := strings.Contains(plan, "visits_flagged"); uses != (want != "") {
			t.Errorf("risk %s: plan %q", risk, plan)
		}
	}
}
