package multiserver

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"stationsync/internal/gen"
	"stationsync/internal/hlc"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
	"stationsync/server"
	"stationsync/syncproto"
)

// TestDecisionAcrossServers: a station submits an application through
// one server with its clock well ahead of the county's (within
// MaxFuture, so the HLC is kept); staff decide on it at the other server,
// whose in-memory clock never saw that HLC; the station pulls from the
// first. The decision must come down, and its HLC must be after the
// submission's, or the station's and the county's histories would put the
// decision before what it decides on. Then the same the other way round.
func TestDecisionAcrossServers(t *testing.T) {
	p := newPair(t)
	ctx := context.Background()
	v := villages(1)[0]
	s := p.enroll(t, p.A, v)
	g := gen.New(77)
	seq := uint64(0)
	var cursor int64
	feed := ""
	for i, c := range []struct {
		push, decide *countyServer
		ahead        time.Duration
	}{
		// Each ahead beyond the last, so the second server's clock, which
		// saw the first submission, is behind again.
		{p.B, p.A, 90 * time.Second},
		{p.A, p.B, 110 * time.Second},
	} {
		at := time.Now().Add(c.ahead)
		h := hlc.FromTime(at)
		person := g.Person(v)
		pid, aid := uuid.NewString(), uuid.NewString()
		changes := []syncproto.Change{
			{Kind: string(records.Person), ID: pid, Op: string(records.OpUpsert), Fields: testsupport.Fields(person)},
			{Kind: string(records.Application), ID: aid, Op: string(records.OpUpsert), Fields: testsupport.Fields(g.Application(pid, person))},
			{Kind: string(records.Application), ID: aid, Op: string(records.OpSubmit), Fields: records.Fields{"comment": records.JSONText("请审核")}},
		}
		for k := range changes {
			seq++
			changes[k].Seq, changes[k].HLC, changes[k].By, changes[k].At = seq, uint64(h+hlc.Timestamp(k)), "村干部", at.UnixMilli()
		}
		submitted := changes[2].HLC
		res, err := s.push(ctx, c.push.URL(), changes, 0)
		if err != nil {
			t.Fatalf("case %d: push to %s: %v", i, c.push.Name, err)
		}
		for _, r := range res.Results {
			if r.Status != syncproto.Applied {
				t.Fatalf("case %d: seq %d %s: %s %s", i, r.Seq, r.Status, r.Code, r.Reason)
			}
		}
		if res.ClockAhead {
			t.Fatalf("case %d: the county clamped an HLC %s ahead; the test needs it kept", i, c.ahead)
		}
		if err := c.decide.Store.Decide(ctx, server.Decision{ApplicationID: aid, Op: records.OpAccept, By: "县民政局", Comment: "材料齐全，予以受理"}); err != nil {
			t.Fatalf("case %d: decide at %s: %v", i, c.decide.Name, err)
		}

		// The station pulls its village's feed from the server it pushed to.
		var got *syncproto.Record
		for more := true; more; {
			page, err := s.pull(ctx, c.push.URL(), cursor, feed, 100)
			if err != nil {
				t.Fatalf("case %d: pull from %s: %v", i, c.push.Name, err)
			}
			for k := range page.Records {
				if page.Records[k].ID == aid {
					got = &page.Records[k]
				}
			}
			cursor, feed, more = page.Next, page.FeedEpoch, page.More
		}
		if got == nil {
			t.Fatalf("case %d: application decided at %s never came down from %s", i, c.decide.Name, c.push.Name)
		}
		if st := records.TextValue(got.Fields, "status"); st != records.StatusAccepted {
			t.Errorf("case %d: station pulled the application from %s as %q, want %q", i, c.push.Name, st, records.StatusAccepted)
		}
		if v := got.Versions["status"]; v <= submitted {
			t.Errorf("case %d: decision at %s stamped the status %s, not after the submission's %s pushed through %s",
				i, c.decide.Name, hlc.Timestamp(v), hlc.Timestamp(submitted), c.push.Name)
		}
		var ops []string
		var prev uint64
		for _, e := range got.History {
			ops = append(ops, e.Op)
			if e.HLC <= prev {
				t.Errorf("case %d: history %s at %s, not after the entry before it at %s", i, e.Op, hlc.Timestamp(e.HLC), hlc.Timestamp(prev))
			}
			prev = e.HLC
		}
		if len(ops) != 2 || ops[0] != string(records.OpSubmit) || ops[1] != string(records.OpAccept) {
			t.Errorf("case %d: history %v, want [submit accept]", i, ops)
		}
	}
	p.checkFeedPositions(t)
}
