package testsupport

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"

	"stationsync/internal/jsonout"
	"stationsync/internal/records"
	"stationsync/syncproto"
)

// Record is a record as the checks see it, whichever side or command line
// it was read from.
type Record struct {
	Kind      records.Kind
	ID        string
	Village   string
	CreatedBy string
	// Rev is the county's revision (the number of changes it applied);
	// at a station, the last revision it received.
	Rev    int64
	Fields records.Fields
	// History is an application's ops (submit, accept, …), oldest first.
	History []string
}

// FromWire is a record as the county's store reads it.
func FromWire(r syncproto.Record) Record {
	out := Record{Kind: records.Kind(r.Kind), ID: r.ID, Village: r.Village, CreatedBy: r.CreatedBy, Rev: r.Rev, Fields: records.Fields(r.Fields)}
	for _, h := range r.History {
		out.History = append(out.History, h.Op)
	}
	return out
}

// FromJSON are records as `county-server records` and `station-agent
// list` print them.
func FromJSON(rs []jsonout.Record) []Record {
	out := make([]Record, len(rs))
	for i, r := range rs {
		out[i] = Record{Kind: records.Kind(r.Kind), ID: r.ID, Village: r.Village, CreatedBy: r.CreatedBy, Rev: r.Rev, Fields: r.Fields}
		for _, h := range r.History {
			out[i].History = append(out[i].History, h.Op)
		}
	}
	return out
}

// Want is what the system accepted for one record: the fields of every
// save that returned success, the number of changes (the county's rev
// counts applied changes, so a change applied twice shows as a rev too
// high), and for applications the status and the ops of its history.
type Want struct {
	Kind    records.Kind
	ID      string
	Village string
	By      string
	Fields  records.Fields // an application's status is not among them: see Status
	Changes int
	// Status is the status an application must show, at the county and,
	// once synced, at its station: the county owns it, and its decisions
	// flow back down, so a status that differs is a divergence like any
	// lost field.
	Status  string
	History []string
}

// Attempt is a save whose answer never came back (the process was killed
// after or before its commit): it may or may not be in the system, and
// either is right, but at most once.
type Attempt struct {
	Kind    records.Kind
	Village string
	Fields  records.Fields
}

// Oracle is the journal, kept outside the system under test, of every
// change the system said yes to: the one the suites compare the county and
// the stations with once faults have stopped and sync has settled.
type Oracle struct {
	mu       sync.Mutex
	recs     map[string]*Want
	unknown  map[string]map[string]bool // record → fields whose final value another check judges
	unacked  []Attempt
	accepted int
}

// NewOracle returns an empty journal.
func NewOracle() *Oracle {
	return &Oracle{recs: map[string]*Want{}, unknown: map[string]map[string]bool{}}
}

// Created journals a successful create.
func (o *Oracle) Created(kind records.Kind, id, village, by string, f records.Fields) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, dup := o.recs[id]; dup {
		panic("testsupport: oracle: id " + id + " created twice")
	}
	w := &Want{Kind: kind, ID: id, Village: village, By: by, Fields: records.Fields{}, Changes: 1}
	for k, v := range f {
		if kind == records.Application && k == "status" {
			continue // Store.Save sets it in the map it was given; the county owns it
		}
		w.Fields[k] = v
	}
	if kind == records.Application {
		w.Status = records.StatusDraft
	}
	o.recs[id] = w
	o.accepted++
}

// Edited journals a successful edit of some fields.
func (o *Oracle) Edited(id string, f records.Fields) {
	o.mu.Lock()
	defer o.mu.Unlock()
	w := o.recs[id]
	for k, v := range f {
		w.Fields[k] = v
	}
	w.Changes++
	o.accepted++
}

// Set journals fields that came with a county decision (no change of
// their own).
func (o *Oracle) Set(id string, f records.Fields) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for k, v := range f {
		o.recs[id].Fields[k] = v
	}
}

// Intent journals an accepted application transition, the station's or
// the county's.
func (o *Oracle) Intent(id string, op records.Op, to string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	w := o.recs[id]
	w.Status = to
	w.History = append(w.History, string(op))
	w.Changes++
	o.accepted++
}

// Unknown marks a field whose final value the oracle cannot know by itself
// (both sides wrote it while cut off from each other): the checks leave it
// to the test that journaled the writes.
func (o *Oracle) Unknown(id, field string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.unknown[id] == nil {
		o.unknown[id] = map[string]bool{}
	}
	o.unknown[id][field] = true
}

// CountyEdited journals a county edit of a field whose final value is
// Unknown: one more change on the record.
func (o *Oracle) CountyEdited(id, field string) {
	o.Unknown(id, field)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.recs[id].Changes++
	o.accepted++
}

// Unacknowledged journals a save whose answer never came.
func (o *Oracle) Unacknowledged(a Attempt) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.unacked = append(o.unacked, a)
}

// Want returns what the oracle holds of a record.
func (o *Oracle) Want(id string) (Want, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	w := o.recs[id]
	if w == nil {
		return Want{}, false
	}
	return *w, true
}

// Status is the status an application must show.
func (o *Oracle) Status(id string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.recs[id].Status
}

// Count is the number of records of a kind.
func (o *Oracle) Count(kind records.Kind) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, w := range o.recs {
		if w.Kind == kind {
			n++
		}
	}
	return n
}

// Changes is the number of changes accepted on a village's records
// (creates, edits and transitions).
func (o *Oracle) Changes(village string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, w := range o.recs {
		if w.Village == village {
			n += w.Changes
		}
	}
	return n
}

// Accepted is the number of changes the system said yes to.
func (o *Oracle) Accepted() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.accepted
}

// Unacked is the number of saves whose answer never came.
func (o *Oracle) Unacked() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.unacked)
}

// Tally is what a comparison of the county with the oracle found.
type Tally struct {
	Records    int // records found as accepted
	Lost       int // accepted and missing: a record, or changes (rev too low)
	Duplicated int // applied twice: listed twice, or rev too high
	Extra      int // at the county, never accepted
	Mismatched int // there, with other content: fields, status, village, author, history
}

// Add adds b to a.
func (a *Tally) Add(b Tally) {
	a.Records += b.Records
	a.Lost += b.Lost
	a.Duplicated += b.Duplicated
	a.Extra += b.Extra
	a.Mismatched += b.Mismatched
}

// CheckCounty compares the county's records of one kind (of every
// village) with the oracle: every record exactly once, none missing, none
// extra (a save whose answer never came may be there once), every field
// and an application's status and history as accepted, rev equal to the
// changes accepted. It returns the figures and what differs.
func (o *Oracle) CheckCounty(kind records.Kind, got []Record) (Tally, []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var tl Tally
	var diffs []string
	errorf := func(format string, args ...any) { diffs = append(diffs, fmt.Sprintf(format, args...)) }
	unacked := slices.Clone(o.unacked)
	seen := map[string]int{}
	for _, r := range got {
		if seen[r.ID]++; seen[r.ID] > 1 {
			tl.Duplicated++
			errorf("%s %s listed %d times at the county", kind, r.ID, seen[r.ID])
			continue
		}
		w := o.recs[r.ID]
		if w == nil || w.Kind != kind {
			// Saved, but the saving process died before it said so.
			if i := slices.IndexFunc(unacked, func(a Attempt) bool {
				return a.Kind == kind && a.Village == r.Village && len(diffFields(kind, a.Fields, startStatus(kind), r.Fields, nil)) == 0
			}); i >= 0 {
				unacked = slices.Delete(unacked, i, i+1)
				continue
			}
			tl.Extra++
			errorf("%s %s at the county was never accepted at a station", kind, r.ID)
			continue
		}
		tl.Records++
		switch {
		case r.Rev > int64(w.Changes):
			tl.Duplicated++
			errorf("%s %s: county rev %d, %d changes accepted (applied twice)", kind, r.ID, r.Rev, w.Changes)
		case r.Rev < int64(w.Changes):
			tl.Lost++
			errorf("%s %s: county rev %d, %d changes accepted (lost)", kind, r.ID, r.Rev, w.Changes)
		}
		if d := diffFields(kind, w.Fields, w.Status, r.Fields, o.unknown[r.ID]); len(d) > 0 {
			tl.Mismatched++
			errorf("%s %s at the county: %s", kind, r.ID, summary(d))
		}
		if r.Village != w.Village || r.CreatedBy != w.By {
			tl.Mismatched++
			errorf("%s %s: village/by %q/%q at the county, accepted %q/%q", kind, r.ID, r.Village, r.CreatedBy, w.Village, w.By)
		}
		if kind == records.Application && !slices.Equal(r.History, w.History) {
			tl.Mismatched++
			errorf("application %s: county history %v, accepted %v", r.ID, r.History, w.History)
		}
	}
	var lost []string
	for id, w := range o.recs {
		if w.Kind == kind && seen[id] == 0 {
			lost = append(lost, id)
		}
	}
	sort.Strings(lost)
	tl.Lost += len(lost)
	for _, id := range lost {
		errorf("%s %s was accepted at a station and is missing at the county", kind, id)
	}
	return tl, diffs
}

// CheckStation compares a station's records of one kind with what the
// oracle holds of its village: each as accepted (an application with the
// status the county gave it), none missing, none it does not know.
func (o *Oracle) CheckStation(village string, kind records.Kind, got []Record) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var diffs []string
	n := 0
	for _, r := range got {
		w := o.recs[r.ID]
		if w == nil || w.Kind != kind || w.Village != village {
			diffs = append(diffs, fmt.Sprintf("station %s holds %s %s the oracle does not know", village, kind, r.ID))
			continue
		}
		n++
		if d := diffFields(kind, w.Fields, w.Status, r.Fields, o.unknown[r.ID]); len(d) > 0 {
			diffs = append(diffs, fmt.Sprintf("station %s %s %s: %s", village, kind, r.ID, summary(d)))
		}
	}
	want := 0
	for _, w := range o.recs {
		if w.Kind == kind && w.Village == village {
			want++
		}
	}
	if n != want {
		diffs = append(diffs, fmt.Sprintf("station %s holds %d %s records, the oracle %d", village, n, kind, want))
	}
	return diffs
}

// CompareStation compares a station's records of one kind with the
// county's of its village (records of other villages in county are left
// out): the same ids, every field equal (an application's status too: the
// county's decisions flow down), the same application histories.
func CompareStation(village string, county, station []Record) []string {
	var diffs []string
	want := map[string]Record{}
	for _, r := range county {
		if r.Village == village {
			want[r.ID] = r
		}
	}
	for _, l := range station {
		r, ok := want[l.ID]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("station %s holds %s %s the county does not", village, l.Kind, l.ID))
			continue
		}
		delete(want, l.ID)
		names := map[string]bool{}
		for k := range r.Fields {
			names[k] = true
		}
		for k := range l.Fields {
			names[k] = true
		}
		var d []string
		for k := range names {
			if !records.Equal(r.Fields[k], l.Fields[k]) {
				d = append(d, fmt.Sprintf("%s: county %.120s, station %.120s", k, r.Fields[k], l.Fields[k]))
			}
		}
		if len(d) > 0 {
			sort.Strings(d)
			diffs = append(diffs, fmt.Sprintf("station %s %s %s differs from the county: %s", village, l.Kind, l.ID, summary(d)))
		}
		if !slices.Equal(r.History, l.History) {
			diffs = append(diffs, fmt.Sprintf("station %s %s %s: history %v, county %v", village, l.Kind, l.ID, l.History, r.History))
		}
	}
	var missing []string
	for id, r := range want {
		missing = append(missing, fmt.Sprintf("station %s lacks %s %s the county holds", village, r.Kind, id))
	}
	sort.Strings(missing)
	return append(diffs, missing...)
}

// Report fails the test with the differences found, the first 20 of them
// spelled out.
func Report(t testing.TB, diffs []string) {
	t.Helper()
	for i, d := range diffs {
		if i == 20 {
			t.Errorf("(%d more differences not shown)", len(diffs)-20)
			break
		}
		t.Error(d)
	}
}

// startStatus is the status a record of kind has when created.
func startStatus(kind records.Kind) string {
	if kind == records.Application {
		return records.StatusDraft
	}
	return ""
}

// diffFields says how got differs from the fields want holds and, for an
// application, from status, which must be there and equal: a record whose
// status is missing or another than the county decided has diverged.
// Fields in unknown are left out.
func diffFields(kind records.Kind, want records.Fields, status string, got records.Fields, unknown map[string]bool) []string {
	var diffs []string
	for name, v := range want {
		if !unknown[name] && !records.Equal(got[name], v) {
			diffs = append(diffs, fmt.Sprintf("%s=%.120s, want %.120s", name, got[name], v))
		}
	}
	for name, v := range got {
		if _, ok := want[name]; ok || unknown[name] || kind == records.Application && name == "status" {
			continue
		}
		if string(records.Canonical(v)) != "null" {
			diffs = append(diffs, fmt.Sprintf("%s=%.120s never saved", name, v))
		}
	}
	if kind == records.Application {
		if got := records.TextValue(got, "status"); got != status {
			diffs = append(diffs, fmt.Sprintf("status=%q, want %q", got, status))
		}
	}
	sort.Strings(diffs)
	return diffs
}

// summary joins a record's differences, at most 5 of them.
func summary(d []string) string {
	if len(d) > 5 {
		d = append(d[:5:5], fmt.Sprintf("… %d more", len(d)-5))
	}
	out := ""
	for i, s := range d {
		if i > 0 {
			out += "; "
		}
		out += s
	}
	return out
}
