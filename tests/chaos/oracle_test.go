package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/gen"
	"stationsync/internal/records"
	"stationsync/server"
	"stationsync/syncproto"
)

// ---- the oracle: a journal kept outside the system under test ----

// want is what the system accepted for one record: the fields of every
// save that returned success, the number of changes (the county's rev
// counts applied changes, so a change applied twice shows as a rev too
// high), and for applications the status and the ops of its history.
type want struct {
	kind    records.Kind
	id      string
	village string
	by      string
	fields  records.Fields
	changes int
	status  string
	history []string
}

// attempt is a save whose answer never came back (the process was killed
// after or before its commit): it may or may not be in the system, and
// either is right, but at most once.
type attempt struct {
	kind    records.Kind
	village string
	fields  records.Fields
}

type oracle struct {
	mu       sync.Mutex
	recs     map[string]*want
	unacked  []attempt
	accepted int // changes the system said yes to
}

func newOracle() *oracle { return &oracle{recs: map[string]*want{}} }

func (o *oracle) created(kind records.Kind, id, village, by string, f records.Fields) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, dup := o.recs[id]; dup {
		panic("oracle: id " + id + " created twice")
	}
	w := &want{kind: kind, id: id, village: village, by: by, fields: records.Fields{}, changes: 1}
	for k, v := range f {
		if kind == records.Application && k == "status" {
			continue // Store.Save sets it in the map it was given; the county owns it
		}
		w.fields[k] = v
	}
	if kind == records.Application {
		w.status = records.StatusDraft
	}
	o.recs[id] = w
	o.accepted++
}

func (o *oracle) edited(id string, f records.Fields) {
	o.mu.Lock()
	defer o.mu.Unlock()
	w := o.recs[id]
	for k, v := range f {
		w.fields[k] = v
	}
	w.changes++
	o.accepted++
}

// intent journals an accepted application transition, the station's or
// the county's.
func (o *oracle) intent(id string, op records.Op, to string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	w := o.recs[id]
	w.status = to
	w.history = append(w.history, string(op))
	w.changes++
	o.accepted++
}

func (o *oracle) unacknowledged(a attempt) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.unacked = append(o.unacked, a)
}

func (o *oracle) status(id string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.recs[id].status
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
}

func newDriver(o *oracle, seed uint64, village, by string) *driver {
	return &driver{o: o, g: gen.New(int64(seed)), rng: rand.New(rand.NewPCG(seed, 0x63686173)), village: village, by: by, pmap: map[string]map[string]any{}}
}

func toFields(m map[string]any) records.Fields {
	out := records.Fields{}
	for k, v := range m {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		out[k] = b
	}
	return out
}

var healthNotes = []string{"身体健康", "高血压，需按时服药", "行动不便，需要照料", "近期住院，已出院", "视力下降", "精神状态良好"}

// step makes one change the way a cadre would: register a person, record a
// visit, edit a person, draft an application, submit one, post a
// disclosure. A StorageError is a refusal (counted, not journaled); any
// other error is returned.
func (d *driver) step(ctx context.Context, s saver) error {
	r := d.rng.IntN(100)
	if len(d.persons) < 2 {
		r = 0
	}
	var err error
	switch {
	case r < 22:
		p := d.g.Person(d.village)
		f := toFields(p)
		var id string
		if id, err = s.Save(ctx, records.Person, "", f, d.by); err == nil {
			d.o.created(records.Person, id, d.village, d.by, f)
			d.persons = append(d.persons, id)
			d.pmap[id] = p
		}
	case r < 65:
		f := toFields(d.g.Visit(d.somePerson(), time.Now().AddDate(0, 0, -d.rng.IntN(90))))
		var id string
		if id, err = s.Save(ctx, records.Visit, "", f, d.by); err == nil {
			d.o.created(records.Visit, id, d.village, d.by, f)
		}
	case r < 77:
		id := d.somePerson()
		f := records.Fields{
			"health": records.JSONText(healthNotes[d.rng.IntN(len(healthNotes))] + "（" + strconv.Itoa(d.rng.IntN(1000)) + "）"),
			"phone":  records.JSONText("139" + strconv.Itoa(10000000+d.rng.IntN(89999999))),
		}
		if _, err = s.Save(ctx, records.Person, id, f, d.by); err == nil {
			d.o.edited(id, f)
		}
	case r < 87:
		pid := d.somePerson()
		f := toFields(d.g.Application(pid, d.pmap[pid]))
		var id string
		if id, err = s.Save(ctx, records.Application, "", f, d.by); err == nil {
			d.o.created(records.Application, id, d.village, d.by, f)
			d.drafts = append(d.drafts, id)
		}
	case r < 95 && len(d.drafts) > 0:
		id := d.drafts[0]
		if err = s.Intent(ctx, id, records.OpSubmit, "", d.by); err == nil {
			d.o.intent(id, records.OpSubmit, records.StatusSubmitted)
			d.drafts = d.drafts[1:]
		}
	default:
		f := toFields(d.g.Disclosure(""))
		var id string
		if id, err = s.Save(ctx, records.Disclosure, "", f, d.by); err == nil {
			d.o.created(records.Disclosure, id, d.village, d.by, f)
		}
	}
	var se *agent.StorageError
	if errors.As(err, &se) {
		d.refused++
		return nil
	}
	return err
}

func (d *driver) somePerson() string { return d.persons[d.rng.IntN(len(d.persons))] }

// decide has the county accept every application it holds as submitted,
// and approve some it accepted before: county decisions that must flow
// down to the stations.
func decide(ctx context.Context, st *server.SQLiteStore, o *oracle, rng *rand.Rand) (int, error) {
	apps, err := st.Records(ctx, records.Application, "")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, a := range apps {
		status := records.TextValue(a.Fields, "status")
		var d server.Decision
		switch {
		case status == records.StatusSubmitted && o.status(a.ID) == records.StatusSubmitted:
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
		o.intent(a.ID, d.Op, records.StatusAccepted)
		n++
	}
	return n, nil
}

// ---- the checks ----

type tally struct {
	changes, lost, duplicated, diverged int
}

// verify compares the county and the stations with the oracle once faults
// have stopped and sync has settled: nothing accepted is missing at the
// county; nothing is applied twice; every station holds exactly the
// county's view of its village; nothing was rejected and no conflict kept
// (the workload makes none); every outbox is empty.
func verify(t *testing.T, cs *server.SQLiteStore, stations []*agent.Agent, o *oracle) tally {
	t.Helper()
	ctx := context.Background()
	tl := tally{changes: o.accepted}
	reported := 0
	errorf := func(format string, args ...any) {
		t.Helper()
		if reported++; reported <= 15 {
			t.Errorf(format, args...)
		} else {
			t.Fail()
		}
	}
	unacked := slices.Clone(o.unacked)
	county := map[records.Kind][]syncproto.Record{}
	for _, kind := range records.Kinds {
		got, err := cs.Records(ctx, kind, "")
		if err != nil {
			t.Fatalf("county records: %v", err)
		}
		county[kind] = got
		seen := map[string]int{}
		for _, r := range got {
			if seen[r.ID]++; seen[r.ID] > 1 {
				tl.duplicated++
				errorf("%s %s listed %d times at the county", kind, r.ID, seen[r.ID])
				continue
			}
			w := o.recs[r.ID]
			if w == nil {
				// Saved, but the saving process died before it said so.
				if i := slices.IndexFunc(unacked, func(a attempt) bool {
					return a.kind == kind && a.village == r.Village && compareFields(a.fields, r.Fields, kind, "") == ""
				}); i >= 0 {
					unacked = slices.Delete(unacked, i, i+1)
					continue
				}
				tl.duplicated++
				errorf("%s %s at the county was never accepted at a station", kind, r.ID)
				continue
			}
			if r.Rev > int64(w.changes) {
				tl.duplicated++
				errorf("%s %s: county rev %d, %d changes accepted (applied twice)", kind, r.ID, r.Rev, w.changes)
			} else if r.Rev < int64(w.changes) {
				tl.lost++
				errorf("%s %s: county rev %d, %d changes accepted (lost)", kind, r.ID, r.Rev, w.changes)
			}
			if msg := compareFields(w.fields, r.Fields, kind, w.status); msg != "" {
				tl.lost++
				errorf("%s %s: %s", kind, r.ID, msg)
			}
			if r.Village != w.village || r.CreatedBy != w.by {
				tl.lost++
				errorf("%s %s: village/by %q/%q, accepted %q/%q", kind, r.ID, r.Village, r.CreatedBy, w.village, w.by)
			}
			if kind == records.Application {
				var ops []string
				for _, h := range r.History {
					ops = append(ops, h.Op)
				}
				if !slices.Equal(ops, w.history) {
					tl.lost++
					errorf("application %s: county history %v, accepted %v", r.ID, ops, w.history)
				}
			}
		}
		for id, w := range o.recs {
			if w.kind == kind && seen[id] == 0 {
				tl.lost++
				errorf("%s %s was accepted at a station and is missing at the county", kind, id)
			}
		}
	}
	rej, err := cs.Rejected(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rej) > 0 {
		tl.diverged += len(rej)
		errorf("county rejected %d changes the workload meant to be accepted, first: %+v", len(rej), rej[0])
	}
	conf, err := cs.Conflicts(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(conf) > 0 {
		tl.diverged += len(conf)
		errorf("county kept %d conflicts where no edit was concurrent", len(conf))
	}
	for _, a := range stations {
		tl.diverged += compareStation(t, a, county, errorf)
	}
	if reported > 15 {
		t.Logf("(%d more differences not shown)", reported-15)
	}
	return tl
}

// compareStation checks that a station holds exactly the county's records
// of its village, field for field, with the same application histories,
// an empty outbox and nothing rejected.
func compareStation(t *testing.T, a *agent.Agent, county map[records.Kind][]syncproto.Record, errorf func(string, ...any)) int {
	t.Helper()
	ctx := context.Background()
	village := a.Store.Meta(ctx, "village")
	diverged := 0
	if n, _ := a.Store.Pending(ctx); n != 0 {
		diverged++
		errorf("station %s: %d changes still queued after sync settled", village, n)
	}
	if rej, _ := a.Store.Rejected(ctx); len(rej) != 0 {
		diverged++
		errorf("station %s: %d changes rejected, first %+v", village, len(rej), rej[0])
	}
	if n, _ := a.Store.ConflictCount(ctx); n != 0 {
		diverged++
		errorf("station %s: %d conflicts", village, n)
	}
	for _, kind := range records.Kinds {
		local, err := a.Store.List(ctx, kind)
		if err != nil {
			t.Fatalf("station list: %v", err)
		}
		want := map[string]syncproto.Record{}
		for _, r := range county[kind] {
			if r.Village == village {
				want[r.ID] = r
			}
		}
		for _, l := range local {
			r, ok := want[l.ID]
			if !ok {
				diverged++
				errorf("station %s holds %s %s the county does not", village, kind, l.ID)
				continue
			}
			delete(want, l.ID)
			if msg := compareFields(r.Fields, l.Fields, kind, ""); msg != "" {
				diverged++
				errorf("station %s %s %s differs from the county: %s", village, kind, l.ID, msg)
			}
			if kind == records.Application {
				h, _ := a.Store.History(ctx, l.ID)
				var lo, co []string
				for _, e := range h {
					lo = append(lo, e.Op)
				}
				for _, e := range r.History {
					co = append(co, e.Op)
				}
				if !slices.Equal(lo, co) {
					diverged++
					errorf("station %s application %s: history %v, county %v", village, l.ID, lo, co)
				}
			}
		}
		for id := range want {
			diverged++
			errorf("station %s lacks %s %s the county holds", village, kind, id)
		}
	}
	return diverged
}

// compareFields says how got differs from want ("" when equal). An
// application's status is compared with status when given.
func compareFields(want, got records.Fields, kind records.Kind, status string) string {
	var diffs []string
	for name, v := range want {
		if !records.Equal(got[name], v) {
			diffs = append(diffs, fmt.Sprintf("%s=%.80s, want %.80s", name, got[name], v))
		}
	}
	for name, v := range got {
		if _, ok := want[name]; ok {
			continue
		}
		if kind == records.Application && name == "status" {
			if status != "" && records.TextValue(got, "status") != status {
				diffs = append(diffs, fmt.Sprintf("status=%s, want %q", v, status))
			}
			continue
		}
		if string(records.Canonical(v)) != "null" {
			diffs = append(diffs, fmt.Sprintf("%s=%.80s never saved", name, v))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 3 {
		diffs = append(diffs[:3], fmt.Sprintf("… %d more", len(diffs)-3))
	}
	return fmt.Sprint(diffs)[1 : len(fmt.Sprint(diffs))-1]
}
