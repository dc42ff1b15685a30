package main

import (
	"context"

	"stationsync/internal/jsonout"
	"stationsync/internal/records"
	"stationsync/server"
)

// The JSON the county's commands print, in the shapes of internal/jsonout
// (`station-agent list` prints the same Record).

func recordsOut(ctx context.Context, st *server.CountyStore, kind records.Kind, village string) ([]jsonout.Record, error) {
	list, err := st.Records(ctx, kind, village)
	if err != nil {
		return nil, err
	}
	out := make([]jsonout.Record, 0, len(list))
	for _, r := range list {
		out = append(out, jsonout.FromRecord(r))
	}
	return out, nil
}

func rejectedOut(ctx context.Context, st *server.CountyStore, village string) ([]jsonout.Rejection, error) {
	list, err := st.Rejected(ctx, village)
	if err != nil {
		return nil, err
	}
	out := make([]jsonout.Rejection, 0, len(list))
	for _, r := range list {
		out = append(out, jsonout.Rejection{Station: r.Station, Epoch: r.Epoch, Seq: r.Seq, Kind: r.Kind, RecordID: r.RecordID,
			Op: r.Op, Fields: r.Fields, Code: r.Code, Reason: r.Reason, At: jsonout.Millis(r.At)})
	}
	return out, nil
}

// conflictsOut lists the open conflicts with the record each is on (the
// village filter is a scope: a 12-digit code is that village).
func conflictsOut(ctx context.Context, st *server.CountyStore, village string) ([]jsonout.Conflict, error) {
	list, _, err := st.OpenConflicts(ctx, village, -1, 0)
	if err != nil {
		return nil, err
	}
	out := make([]jsonout.Conflict, 0, len(list))
	for _, c := range list {
		out = append(out, jsonout.FromConflict(c.Conflict, c.Kind, c.RecordID, c.Village))
	}
	return out, nil
}

func stationsOut(list []server.Station) []jsonout.Station {
	out := make([]jsonout.Station, 0, len(list))
	for _, s := range list {
		out = append(out, jsonout.Station{ID: s.ID, Village: s.Village, Hostname: s.Hostname, AgentVersion: s.AgentVersion,
			EnrolledAt: jsonout.Of(&s.EnrolledAt), RevokedAt: jsonout.Of(s.RevokedAt), LastContactAt: jsonout.Of(s.LastContactAt),
			LastPushAt: jsonout.Of(s.LastPushAt), Pending: s.Pending, ClockOffsetMs: s.ClockOffsetMs, ClockAhead: s.ClockAhead})
	}
	return out
}
