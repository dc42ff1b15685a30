package main

import (
	"context"
	"io"
	"sort"
	"time"

	"stationsync/agent"
	"stationsync/internal/cli"
	"stationsync/internal/jsonout"
	"stationsync/internal/records"
)

// runList is `station-agent list`: the station's records of a kind as
// JSON (README: JSON on the command line).
func (e *env) runList(ctx context.Context, args []string) error {
	fs, data := e.flags("list")
	kind := fs.String("kind", "", "person, visit, application or disclosure")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	return withAgent(ctx, *data, agent.Config{}, e.Logger, func(a *agent.Agent) error {
		return printList(ctx, a, records.Kind(*kind), e.Stdout)
	})
}

// printList prints the station's records of a kind as `county-server
// records` prints the county's: a JSON array of jsonout.Record.
func printList(ctx context.Context, a *agent.Agent, kind records.Kind, w io.Writer) error {
	list, err := a.Store.List(ctx, kind)
	if err != nil {
		return err
	}
	conflicts, err := a.Store.Conflicts(ctx, -1)
	if err != nil {
		return err
	}
	byRecord := map[string][]jsonout.Conflict{}
	sort.SliceStable(conflicts, func(i, j int) bool { return conflicts[i].At < conflicts[j].At })
	for _, c := range conflicts {
		if c.Kind != string(kind) {
			continue
		}
		byRecord[c.RecordID] = append(byRecord[c.RecordID], jsonout.Conflict{Kind: c.Kind, RecordID: c.RecordID,
			Field: c.Field, Winner: c.Winner, WinnerOrigin: c.WinnerOrigin, Loser: c.Loser, LoserOrigin: c.LoserOrigin, At: jsonout.Millis(c.At)})
	}
	out := make([]jsonout.Record, 0, len(list))
	for _, l := range list {
		r := jsonout.Record{Kind: string(l.Kind), ID: l.ID, Village: l.Village, Rev: l.ServerRev, Fields: l.Fields,
			Versions: jsonout.Versions(l.Versions), CreatedBy: l.CreatedBy, CreatedAt: jsonout.Millis(l.CreatedAt),
			UpdatedBy: l.UpdatedBy, UpdatedAt: jsonout.Millis(l.UpdatedAt), History: []jsonout.HistoryEntry{}, Conflicts: []jsonout.Conflict{}}
		if kind == records.Application {
			// An application is followed by its status history: who
			// submitted, accepted, approved it, where and when.
			h, err := a.Store.History(ctx, l.ID)
			if err != nil {
				return err
			}
			r.History = jsonout.History(h)
		}
		if cs := byRecord[l.ID]; cs != nil {
			for i := range cs {
				cs[i].Village = l.Village
			}
			r.Conflicts = cs
		}
		out = append(out, r)
	}
	return cli.PrintJSON(w, out)
}

// statusOut is `station-agent status --json`.
func statusOut(st agent.Status) jsonout.StationStatus {
	return jsonout.StationStatus{StationID: st.StationID, Village: st.Village, VillageName: st.VillageName, County: st.County,
		CountyName: st.CountyName, Server: st.Server, Enrolled: st.Enrolled, Unconfirmed: st.Unconfirmed,
		Pending: st.Pending, Rejected: st.Rejected, Conflicts: st.Conflicts, LastOK: rfc3339(st.LastOK), LastAttempt: rfc3339(st.LastAttempt),
		LastError: st.LastError, ClockOffsetMs: st.ClockOffsetMs, Epoch: st.Epoch, StorageError: st.StorageError}
}

// rfc3339 reads the RFC 3339 times agent.Status carries ("" is none).
func rfc3339(s string) jsonout.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return jsonout.Time{}
	}
	return jsonout.Time{Time: t}
}
