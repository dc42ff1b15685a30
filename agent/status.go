package agent

import (
	"context"
	"time"
)

// Status is what `station-agent status` shows.
type Status struct {
	StationID     string `json:"station_id"`
	Village       string `json:"village"`
	Server        string `json:"server"`
	Enrolled      bool   `json:"enrolled"`
	Pending       int    `json:"pending"`
	Rejected      int    `json:"rejected"`
	Conflicts     int    `json:"conflicts"`
	LastOK        string `json:"last_successful_sync,omitempty"`
	LastAttempt   string `json:"last_attempt,omitempty"`
	LastError     string `json:"last_error,omitempty"`
	ClockOffsetMs int64  `json:"clock_offset_ms"`
	Epoch         string `json:"epoch"`
	// StorageError is set while the disk is full or the data folder
	// cannot be written; new records are refused until it clears.
	StorageError string `json:"storage_error,omitempty"`
	// Unconfirmed: enrolled, but records made before enrollment wait
	// until a person confirms the county in the pages (confirm.go).
	Unconfirmed bool   `json:"unconfirmed,omitempty"`
	County      string `json:"county,omitempty"`
	CountyName  string `json:"county_name,omitempty"`
	VillageName string `json:"village_name,omitempty"`
}

// Status reads the station's sync state.
func (a *Agent) Status(ctx context.Context) (Status, error) {
	r := metaReader{ctx: ctx, q: a.Store.db.R}
	st := Status{
		StationID: read(&r, metaStationID), Village: read(&r, metaVillage), Server: read(&r, metaServerURL),
		Enrolled: a.Enrolled(ctx), LastError: read(&r, metaLastError), Epoch: read(&r, metaEpoch),
		LastOK: msTime(read(&r, metaLastOKAt)), LastAttempt: msTime(read(&r, metaLastAttemptAt)),
		County: read(&r, metaCounty), CountyName: read(&r, metaCountyName), VillageName: read(&r, metaVillageName),
		ClockOffsetMs: read(&r, metaClockOffset),
	}
	st.Unconfirmed = st.Enrolled && read(&r, metaUnconfirmed) != ""
	if p := a.Store.StorageProblem(); p != nil {
		st.StorageError = p.Error()
	}
	if r.err != nil {
		return st, r.err
	}
	var err error
	if st.Pending, err = a.Store.Pending(ctx); err != nil {
		return st, err
	}
	rej, err := a.Store.Rejected(ctx)
	if err != nil {
		return st, err
	}
	st.Rejected = len(rej)
	st.Conflicts, err = a.Store.ConflictCount(ctx)
	return st, err
}

func msTime(ms int64) string {
	if ms == 0 {
		return ""
	}
	return time.UnixMilli(ms).Format(time.RFC3339)
}
