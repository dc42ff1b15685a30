package chaos

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/gen"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
	"stationsync/server"
)

// ---- the oracle: a journal kept outside the system under test ----

// oracle is the suites' one oracle (testsupport.Oracle) and, beside it,
// the fields both sides wrote while cut off from each other, whose outcome
// contest decides.
type oracle struct {
	*testsupport.Oracle
	mu sync.Mutex
	// contests are the (record, field) pairs both sides wrote while cut
	// off from each other; see contest.
	contests map[contestKey]*contest
	unique   int // makes every contested value distinct
	files    fileJournal
}

func newOracle() *oracle {
	return &oracle{Oracle: testsupport.NewOracle(), contests: map[contestKey]*contest{}}
}

type contestKey struct{ id, field string }

// contest journals the writes of one field of one record that the station
// and the county made during one outage, neither seeing the other's: the
// station's in its order, the county's in its order, every value distinct.
// Nothing else writes the field after the record's creation, and every
// write sits in its own millisecond, so no two HLCs are equal.
//
// What the merge must then do is decidable from outside. The county's
// writes apply during the outage, each based on the one before, so
// county[:m-1] are overwritten sequentially by their own writer and never
// conflict. The station's writes arrive after the outage, in order, none
// based on county[m-1] (the station never pulled it): each is concurrent
// with it until one wins by HLC, and from then on they are sequential (same
// origin). So, with s = station, c = county[m-1] and f the final value:
//
//   - f is s[k-1] or c;
//   - if f = c: exactly the conflicts {winner c, loser s[j]} for every j;
//   - if f = s[k-1]: for some J, exactly {winner c, loser s[j]} for j < J
//     and {winner s[J], loser c};
//
// and no other conflict on that field. Station values carry the station's
// origin, county values "county".
type contest struct {
	kind          records.Kind
	village       string
	station       string // the station's id (its origin)
	stationWrites []json.RawMessage
	countyWrites  []json.RawMessage
}

// contestValue returns an address no write made before, so that every
// conflict row names exactly one write.
func (o *oracle) contestValue(who string) json.RawMessage {
	o.mu.Lock()
	o.unique++
	n := o.unique
	o.mu.Unlock()
	return records.JSONText(fmt.Sprintf("%s核实：第%d组%d号", who, n%40+1, n))
}

func (o *oracle) contestOf(id, field, station string) *contest {
	k := contestKey{id, field}
	c := o.contests[k]
	if c == nil {
		w, _ := o.Want(id)
		c = &contest{kind: w.Kind, village: w.Village, station: station}
		o.contests[k] = c
	}
	return c
}

// stationContested journals a station's accepted write of a contested field.
func (o *oracle) stationContested(id, field, station string, v json.RawMessage) {
	o.Edited(id, records.Fields{field: v})
	o.Unknown(id, field)
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.contestOf(id, field, station)
	c.stationWrites = append(c.stationWrites, v)
}

// countyContested journals a county edit (CountyEdit returned nil) of a
// contested field: one more change on the record at the county.
func (o *oracle) countyContested(id, field, station string, v json.RawMessage) {
	o.CountyEdited(id, field)
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.contestOf(id, field, station)
	c.countyWrites = append(c.countyWrites, v)
}

// ---- the workload: a cadre at each station, deterministic from a seed ----

// saver is how the driver saves at a station.
type saver interface {
	Save(ctx context.Context, kind records.Kind, id string, f records.Fields, by string) (string, error)
	Intent(ctx context.Context, app string, op records.Op, comment, by string) error
}

type driver struct {
	o       *oracle
	g       *gen.Generator
	rng     *rand.Rand
	village string
	by      string
	persons []string
	pmap    map[string]map[string]any
	drafts  []string
	refused int // saves the station refused (disk full)
	// att, when set, attaches files to the driver's visits now and then
	// (files_test.go).
	att       attacher
	attachPct int // how often a step attaches, in percent (5 if 0)
	visits    []string
	photos    map[string][]string // visit → its files, in order
}

func newDriver(o *oracle, seed uint64, village, by string) *driver {
	return &driver{o: o, g: gen.New(int64(seed)), rng: rand.New(rand.NewPCG(seed, 0x63686173)), village: village, by: by, pmap: map[string]map[string]any{}, photos: map[string][]string{}}
}

// step makes one change the way a cadre would: register a person, record a
// visit, edit a person, draft an application, submit one, post a
// disclosure, and, given an attacher, attach a photo or a scan to a visit.
// A StorageError is a refusal (counted, not journaled); any
// other error is returned.
func (d *driver) step(ctx context.Context, s saver) error {
	r := d.rng.IntN(100)
	if len(d.persons) < 2 {
		r = 0
	}
	var err error
	switch {
	case d.att != nil && len(d.visits) > 0 && d.rng.IntN(100) < cmp.Or(d.attachPct, 5):
		err = d.attachOne(ctx)
	case r < 22:
		p := d.g.Person(d.village)
		f := testsupport.Fields(p)
		var id string
		if id, err = s.Save(ctx, records.Person, "", f, d.by); err == nil {
			d.o.Created(records.Person, id, d.village, d.by, f)
			d.persons = append(d.persons, id)
			d.pmap[id] = p
		}
	case r < 65:
		f := testsupport.Fields(d.g.Visit(d.somePerson(), time.Now().AddDate(0, 0, -d.rng.IntN(90))))
		var id string
		if id, err = s.Save(ctx, records.Visit, "", f, d.by); err == nil {
			d.o.Created(records.Visit, id, d.village, d.by, f)
			d.visits = append(d.visits, id)
		}
	case r < 77:
		id := d.somePerson()
		f := testsupport.EditFields(d.rng)
		if _, err = s.Save(ctx, records.Person, id, f, d.by); err == nil {
			d.o.Edited(id, f)
		}
	case r < 87:
		pid := d.somePerson()
		f := testsupport.Fields(d.g.Application(pid, d.pmap[pid]))
		var id string
		if id, err = s.Save(ctx, records.Application, "", f, d.by); err == nil {
			d.o.Created(records.Application, id, d.village, d.by, f)
			d.drafts = append(d.drafts, id)
		}
	case r < 95 && len(d.drafts) > 0:
		id := d.drafts[0]
		if err = s.Intent(ctx, id, records.OpSubmit, "", d.by); err == nil {
			d.o.Intent(id, records.OpSubmit, records.StatusSubmitted)
			d.drafts = d.drafts[1:]
		}
	default:
		f := testsupport.Fields(d.g.Disclosure(""))
		var id string
		if id, err = s.Save(ctx, records.Disclosure, "", f, d.by); err == nil {
			d.o.Created(records.Disclosure, id, d.village, d.by, f)
		}
	}
	var se *agent.StorageError
	if errors.As(err, &se) {
		d.refused++
		return nil
	}
	return err
}

// steps makes n changes, failing the test on an error step returns.
func (d *driver) steps(t *testing.T, s saver, n int) {
	t.Helper()
	for range n {
		if err := d.step(ctxb, s); err != nil {
			t.Fatalf("save: %v", err)
		}
	}
}

func (d *driver) somePerson() string { return d.persons[d.rng.IntN(len(d.persons))] }

// contender makes conflicts on purpose: while the station is cut off, its
// cadre and the county both change the address of a person the county
// already holds. Each person is contested once in a run, and the address
// is otherwise only written when the person is created, which is what
// makes the outcome decidable (see contest).
type contender struct {
	d       *driver
	county  *server.CountyStore
	station string
	used    map[string]bool
	targets []string
}

const contestedField = "address"

// begin picks up to n persons of the station that the county holds and
// that were never contested; call it once the link is down.
func (ct *contender) begin(ctx context.Context, n int) error {
	if ct.used == nil {
		ct.used = map[string]bool{}
	}
	held, err := ct.county.Records(ctx, records.Person, ct.d.village)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, r := range held {
		have[r.ID] = true
	}
	ct.targets = ct.targets[:0]
	for _, id := range ct.d.persons {
		if len(ct.targets) == n {
			break
		}
		if have[id] && !ct.used[id] {
			ct.used[id] = true
			ct.targets = append(ct.targets, id)
		}
	}
	return nil
}

// write has one side write the contested field of one target (both sides,
// the first time round, so every target is contested), and then waits
// out the millisecond so no later write can share its HLC.
func (ct *contender) write(ctx context.Context, s saver, first bool) (int, error) {
	if len(ct.targets) == 0 {
		return 0, nil
	}
	d, o := ct.d, ct.d.o
	n := 0
	for _, id := range ct.targets {
		if !first && d.rng.IntN(4) != 0 {
			continue
		}
		sides := []bool{d.rng.IntN(2) == 0}
		if first {
			sides = append(sides, !sides[0])
		}
		for _, station := range sides {
			if station {
				v := o.contestValue("村站")
				if _, err := s.Save(ctx, records.Person, id, records.Fields{contestedField: v}, d.by); err != nil {
					return n, fmt.Errorf("contested save %s: %w", id, err)
				}
				o.stationContested(id, contestedField, ct.station, v)
			} else {
				v := o.contestValue("县里")
				if err := ct.county.CountyEdit(ctx, records.Person, id, records.Fields{contestedField: v}, "县民政局"); err != nil {
					return n, fmt.Errorf("county edit %s: %w", id, err)
				}
				o.countyContested(id, contestedField, ct.station, v)
			}
			n++
			time.Sleep(2 * time.Millisecond)
		}
	}
	return n, nil
}

// decide has the county accept every application it holds as submitted,
// and approve some it accepted before: county decisions that must flow
// down to the stations.
func decide(ctx context.Context, st *server.CountyStore, o *oracle, rng *rand.Rand) (int, error) {
	apps, err := st.Records(ctx, records.Application, "")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, a := range apps {
		status := records.TextValue(a.Fields, "status")
		var d server.Decision
		switch {
		case status == records.StatusSubmitted && o.Status(a.ID) == records.StatusSubmitted:
			d = server.Decision{ApplicationID: a.ID, Op: records.OpAccept, By: "县民政局"}
		default:
			continue
		}
		if rng.IntN(3) == 0 {
			continue // not every application is decided at once
		}
		if err := st.Decide(ctx, d); err != nil {
			return n, fmt.Errorf("decide %s: %w", a.ID, err)
		}
		o.Intent(a.ID, d.Op, records.StatusAccepted)
		n++
	}
	return n, nil
}

// ---- the checks ----

type tally struct {
	changes, lost, duplicated, diverged int
	// contested fields, and the conflicts the county kept on them
	contested, conflicts, stationWon, countyWon int
}

// verify compares the county and the stations with the oracle once faults
// have stopped and sync has settled: nothing accepted is missing at the
// county; nothing is applied twice; every station holds exactly the
// county's view of its village, its conflicts included; nothing was
// rejected; every contested field ended as contest says, with exactly the
// conflicts contest predicts, and no conflict was kept anywhere else;
// every outbox is empty.
func verify(t *testing.T, cs *server.CountyStore, stations []*agent.Agent, o *oracle) tally {
	t.Helper()
	ctx := context.Background()
	tl := tally{changes: o.Accepted()}
	var diffs []string
	errorf := func(format string, args ...any) { diffs = append(diffs, fmt.Sprintf(format, args...)) }
	county := map[records.Kind][]testsupport.Record{}
	for _, kind := range records.Kinds {
		county[kind] = testsupport.CountyRecords(t, cs, kind, "")
		ct, d := o.CheckCounty(kind, county[kind])
		tl.lost += ct.Lost + ct.Mismatched
		tl.duplicated += ct.Duplicated + ct.Extra
		diffs = append(diffs, d...)
	}
	fl, fd := verifyFiles(cs, o)
	tl.lost += fl
	diffs = append(diffs, fd...)
	rej, err := cs.Rejected(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rej) > 0 {
		tl.diverged += len(rej)
		errorf("county rejected %d changes the workload meant to be accepted, first: %+v", len(rej), rej[0])
	}
	conf, err := countyConflicts(ctx, cs)
	if err != nil {
		t.Fatal(err)
	}
	if api, err := cs.Conflicts(ctx, ""); err != nil {
		t.Fatal(err)
	} else if len(api) != len(conf) {
		errorf("county: Conflicts lists %d, the conflicts table holds %d open", len(api), len(conf))
	}
	byField := map[contestKey][]conflictRow{}
	byVillage := map[string][]conflictRow{}
	for _, c := range conf {
		k := contestKey{c.record, c.field}
		byField[k] = append(byField[k], c)
		byVillage[c.village] = append(byVillage[c.village], c)
		if o.contests[k] == nil {
			tl.diverged++
			errorf("county kept a conflict where no edit was concurrent: %s %s.%s winner %s (%s) loser %s (%s)",
				c.kind, c.record, c.field, c.winner, c.wOrigin, c.loser, c.lOrigin)
		}
	}
	final := map[string]testsupport.Record{}
	for _, r := range county[records.Person] {
		final[r.ID] = r
	}
	for k, c := range o.contests {
		tl.contested++
		tl.conflicts += len(byField[k])
		r, ok := final[k.id]
		if !ok {
			continue // already counted as lost
		}
		won, msg := checkContest(c, r.Fields[k.field], byField[k])
		switch {
		case msg != "":
			tl.lost++
			errorf("contested %s %s.%s (station wrote %s, county %s): %s", c.kind, k.id, k.field, rawList(c.stationWrites), rawList(c.countyWrites), msg)
		case won == server.CountyOrigin:
			tl.countyWon++
		default:
			tl.stationWon++
		}
	}
	for _, a := range stations {
		d := compareStation(t, a, county, byVillage)
		tl.diverged += len(d)
		diffs = append(diffs, d...)
	}
	testsupport.Report(t, diffs)
	return tl
}

// compareStation says how a station differs from the county's records of
// its village (testsupport.CompareStation: field for field, the same
// application histories) and its open conflicts, and whether its outbox
// is empty and nothing was rejected.
func compareStation(t *testing.T, a *agent.Agent, county map[records.Kind][]testsupport.Record, conflicts map[string][]conflictRow) []string {
	t.Helper()
	ctx := context.Background()
	village := a.Store.Meta(ctx, "village")
	var diffs []string
	errorf := func(format string, args ...any) { diffs = append(diffs, fmt.Sprintf(format, args...)) }
	if n, _ := a.Store.Pending(ctx); n != 0 {
		errorf("station %s: %d changes still queued after sync settled", village, n)
	}
	if rej, _ := a.Store.Rejected(ctx); len(rej) != 0 {
		errorf("station %s: %d changes rejected, first %+v", village, len(rej), rej[0])
	}
	compareConflicts(ctx, a, village, conflicts[village], errorf)
	for _, kind := range records.Kinds {
		diffs = append(diffs, testsupport.CompareStation(village, county[kind], testsupport.StationRecords(t, a, kind))...)
	}
	return diffs
}

// ---- conflicts ----

type conflictRow struct {
	id, kind, record, village, field string
	winner, loser                    json.RawMessage
	wOrigin, lOrigin                 string
}

// countyConflicts reads the county's open conflicts with their records
// (syncproto.Conflict, which Conflicts returns, does not name the record).
func countyConflicts(ctx context.Context, cs *server.CountyStore) ([]conflictRow, error) {
	rows, err := cs.DB().R.QueryContext(ctx, `SELECT id, kind, record_id, village, field, winner, loser, winner_origin, loser_origin
		FROM conflicts WHERE resolved_at IS NULL ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []conflictRow
	for rows.Next() {
		var c conflictRow
		var w, l string
		if err := rows.Scan(&c.id, &c.kind, &c.record, &c.village, &c.field, &w, &l, &c.wOrigin, &c.lOrigin); err != nil {
			return nil, err
		}
		c.winner, c.loser = json.RawMessage(w), json.RawMessage(l)
		out = append(out, c)
	}
	return out, rows.Err()
}

// compareConflicts checks that a station holds exactly the county's open
// conflicts on its village's records, as the feed sends them down.
func compareConflicts(ctx context.Context, a *agent.Agent, village string, county []conflictRow, errorf func(string, ...any)) {
	rows, err := a.Store.DB().R.QueryContext(ctx, `SELECT id, kind, record_id, field, winner, loser, winner_origin, loser_origin FROM conflicts`)
	if err != nil {
		errorf("station %s conflicts: %v", village, err)
		return
	}
	defer rows.Close()
	want := map[string]conflictRow{}
	for _, c := range county {
		want[c.id] = c
	}
	n := 0
	for rows.Next() {
		n++
		var l conflictRow
		var w, lo string
		if err := rows.Scan(&l.id, &l.kind, &l.record, &l.field, &w, &lo, &l.wOrigin, &l.lOrigin); err != nil {
			errorf("station %s conflicts: %v", village, err)
			return
		}
		c, ok := want[l.id]
		if !ok {
			errorf("station %s holds conflict %s the county has not (open)", village, l.id)
			continue
		}
		delete(want, l.id)
		if l.kind != c.kind || l.record != c.record || l.field != c.field || !records.Equal(json.RawMessage(w), c.winner) ||
			!records.Equal(json.RawMessage(lo), c.loser) || l.wOrigin != c.wOrigin || l.lOrigin != c.lOrigin {
			errorf("station %s conflict %s: %s %s.%s %s/%s (%s/%s), county %s %s.%s %s/%s (%s/%s)", village, l.id,
				l.kind, l.record, l.field, w, lo, l.wOrigin, l.lOrigin, c.kind, c.record, c.field, c.winner, c.loser, c.wOrigin, c.lOrigin)
		}
	}
	for id := range want {
		errorf("station %s lacks conflict %s the county kept", village, id)
	}
	if cc, _ := a.Store.ConflictCount(ctx); cc != n {
		errorf("station %s: ConflictCount %d, conflicts table %d", village, cc, n)
	}
}

// checkContest applies the rule of contest to one contested field: final
// is the county's value, rows its open conflicts. It returns which side's
// value stood, or what is wrong.
func checkContest(c *contest, final json.RawMessage, rows []conflictRow) (won, msg string) {
	s, cw := c.stationWrites, c.countyWrites
	if len(s) == 0 || len(cw) == 0 {
		// Only one side wrote: sequential, the last write stands, no conflict.
		last, side := json.RawMessage(nil), server.CountyOrigin
		if len(s) > 0 {
			last, side = s[len(s)-1], c.station
		} else if len(cw) > 0 {
			last = cw[len(cw)-1]
		}
		if !records.Equal(final, last) {
			return "", fmt.Sprintf("final %s, want %s (one side wrote)", final, last)
		}
		if len(rows) > 0 {
			return "", fmt.Sprintf("%d conflicts where only one side wrote", len(rows))
		}
		return side, ""
	}
	cm := cw[len(cw)-1]
	stationLost := map[int]int{} // index in s → rows naming it as loser
	var countyLost []conflictRow
	for _, r := range rows {
		j := slices.IndexFunc(s, func(v json.RawMessage) bool { return records.Equal(v, r.loser) })
		switch {
		case j >= 0:
			if !records.Equal(r.winner, cm) || r.wOrigin != server.CountyOrigin || r.lOrigin != c.station {
				return "", fmt.Sprintf("conflict %s: station's %s lost to %s (%s), want to the county's last %s", r.id, r.loser, r.winner, r.wOrigin, cm)
			}
			stationLost[j]++
		case records.Equal(r.loser, cm):
			if r.wOrigin != c.station || r.lOrigin != server.CountyOrigin {
				return "", fmt.Sprintf("conflict %s: origins %s beat %s, want %s beat county", r.id, r.wOrigin, r.lOrigin, c.station)
			}
			countyLost = append(countyLost, r)
		default:
			return "", fmt.Sprintf("conflict %s: loser %s is not a concurrent write (winner %s)", r.id, r.loser, r.winner)
		}
	}
	lost := len(stationLost)
	for j := 0; j < lost; j++ {
		if stationLost[j] != 1 {
			return "", fmt.Sprintf("station writes lost %v (index → conflicts), want each of the first %d once", stationLost, lost)
		}
	}
	switch {
	case records.Equal(final, cm):
		if lost != len(s) || len(countyLost) != 0 {
			return "", fmt.Sprintf("county's %s stands: want all %d station writes as losers, got %d, and no county loser, got %d", cm, len(s), lost, len(countyLost))
		}
		return server.CountyOrigin, ""
	case records.Equal(final, s[len(s)-1]):
		if lost >= len(s) || len(countyLost) != 1 || !records.Equal(countyLost[0].winner, s[lost]) {
			return "", fmt.Sprintf("station's %s stands after %d station losses: want one conflict %s beats county's %s, got %d county losers", final, lost, s[min(lost, len(s)-1)], cm, len(countyLost))
		}
		return c.station, ""
	default:
		return "", fmt.Sprintf("final %s is neither side's last write", final)
	}
}

func rawList(vs []json.RawMessage) string {
	var parts []string
	for _, v := range vs {
		parts = append(parts, string(v))
	}
	return "[" + strings.Join(parts, " ") + "]"
}
