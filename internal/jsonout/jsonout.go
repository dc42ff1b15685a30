// Package jsonout is what both command lines print as JSON, in one style:
// snake_case keys; every key present (null or [] when there is nothing);
// times as RFC 3339 strings with milliseconds and the display zone's
// offset ("2026-11-26T10:04:05.123+08:00", internal/zone); an HLC as the
// time it carries and its logical counter ({"at": …, "logical": 0}); and
// one shape for a record whichever side prints it. Each type says which
// command prints it; README "JSON on the command line" lists them.
//
// These are output types only: the wire protocol (syncproto) keeps its
// own encoding, and nothing here is read back by the programs.
package jsonout

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"stationsync/internal/hlc"
	"stationsync/internal/records"
	"stationsync/internal/zone"
	"stationsync/syncproto"
)

// Layout is how a Time is written: RFC 3339 with milliseconds always
// shown, so times sort as text within one offset.
const Layout = "2006-01-02T15:04:05.000Z07:00"

// Time is a moment, written as a Layout string in the display zone; the
// zero Time is null.
type Time struct{ time.Time }

// Millis is the Time of a stored unix-ms value; 0 is the zero Time.
func Millis(ms int64) Time {
	if ms == 0 {
		return Time{}
	}
	return Time{time.UnixMilli(ms)}
}

// Of is the Time of t (nil: the zero Time).
func Of(t *time.Time) Time {
	if t == nil {
		return Time{}
	}
	return Time{*t}
}

// MarshalJSON writes the Layout string, or null.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + zone.In(t.Time).Format(Layout) + `"`), nil
}

// UnmarshalJSON reads any RFC 3339 string, or null.
func (t *Time) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*t = Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("time: %w", err)
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("time: %w", err)
	}
	*t = Time{v}
	return nil
}

// HLC is a hybrid logical clock value: the (county-corrected) time of the
// change that carries it and a counter that orders changes made in the
// same millisecond. Together they are the whole value, so nothing is lost
// against the raw integer.
type HLC struct {
	At      Time   `json:"at"`
	Logical uint16 `json:"logical"`
}

// Stamp spells out a raw HLC value.
func Stamp(v uint64) HLC {
	ts := hlc.Timestamp(v)
	return HLC{At: Millis(ts.WallMs()), Logical: ts.Logical()}
}

// Uint64 is the raw value back.
func (h HLC) Uint64() uint64 {
	if h.At.IsZero() {
		return uint64(h.Logical)
	}
	return uint64(hlc.Make(h.At.UnixMilli(), h.Logical))
}

// Record is one record: `station-agent list --kind K` prints the station's
// copies, `county-server records --kind K [--village V]` the county's
// merged ones, both as a JSON array of Record.
type Record struct {
	Kind    string `json:"kind"`
	ID      string `json:"id"`
	Village string `json:"village"`
	// Rev is the county's revision of the record, the number of changes
	// it applied; at the station, the revision it last received from the
	// county (0 until the county's copy came down).
	Rev    int64          `json:"rev"`
	Fields records.Fields `json:"fields"`
	// Versions holds, per field, the HLC of the write that set it.
	Versions  map[string]HLC `json:"versions"`
	CreatedBy string         `json:"created_by"`
	CreatedAt Time           `json:"created_at"`
	UpdatedBy string         `json:"updated_by"`
	UpdatedAt Time           `json:"updated_at"`
	// History is an application's status changes, oldest first; [] for
	// the other kinds.
	History []HistoryEntry `json:"history"`
	// Conflicts are the open conflicts on the record's fields.
	Conflicts []Conflict `json:"conflicts"`
}

// HistoryEntry is one status change of an application (Record.History).
type HistoryEntry struct {
	ID      string `json:"id"`
	From    string `json:"from"`
	To      string `json:"to"`
	Op      string `json:"op"`
	By      string `json:"by"`
	Origin  string `json:"origin"` // station id, or "county"
	HLC     HLC    `json:"hlc"`
	At      Time   `json:"at"`
	Comment string `json:"comment"`
}

// Conflict is a value the merge kept after it lost to another edit of the
// same field: `county-server conflicts [--village V]` prints the county's
// open ones as a JSON array, and Record.Conflicts those of one record on
// either side. The station keeps the values, not their HLCs: there
// winner_hlc and loser_hlc are null, and id is "".
type Conflict struct {
	ID           string          `json:"id"`
	Kind         string          `json:"kind"`
	RecordID     string          `json:"record_id"`
	Village      string          `json:"village"`
	Field        string          `json:"field"`
	Winner       json.RawMessage `json:"winner"`
	WinnerHLC    *HLC            `json:"winner_hlc"`
	WinnerOrigin string          `json:"winner_origin"`
	Loser        json.RawMessage `json:"loser"`
	LoserHLC     *HLC            `json:"loser_hlc"`
	LoserOrigin  string          `json:"loser_origin"`
	At           Time            `json:"at"`
}

// Rejection is a change the county's merge refused: `county-server
// rejected [--village V]` prints them as a JSON array.
type Rejection struct {
	Station  string          `json:"station"`
	Epoch    string          `json:"epoch"`
	Seq      uint64          `json:"seq"`
	Kind     string          `json:"kind"`
	RecordID string          `json:"record_id"`
	Op       string          `json:"op"`
	Fields   json.RawMessage `json:"fields"`
	Code     string          `json:"code"`
	Reason   string          `json:"reason"`
	At       Time            `json:"at"`
}

// Station is one enrolled station and its health: `county-server station
// list --json` prints them as a JSON array.
type Station struct {
	ID            string `json:"id"`
	Village       string `json:"village"`
	Hostname      string `json:"hostname"`
	AgentVersion  string `json:"agent_version"`
	EnrolledAt    Time   `json:"enrolled_at"`
	RevokedAt     Time   `json:"revoked_at"`
	LastContactAt Time   `json:"last_contact_at"`
	LastPushAt    Time   `json:"last_push_at"`
	Pending       int    `json:"pending"`
	ClockOffsetMs int64  `json:"clock_offset_ms"`
	ClockAhead    bool   `json:"clock_ahead"`
}

// StationStatus is a station's sync state: `station-agent status --json`
// prints one.
type StationStatus struct {
	StationID   string `json:"station_id"`
	Village     string `json:"village"`
	VillageName string `json:"village_name"`
	County      string `json:"county"`
	CountyName  string `json:"county_name"`
	Server      string `json:"server"`
	Enrolled    bool   `json:"enrolled"`
	// Unconfirmed: enrolled, but records made before enrollment wait
	// until a person confirms the county in the pages.
	Unconfirmed   bool   `json:"unconfirmed"`
	Pending       int    `json:"pending"`
	Rejected      int    `json:"rejected"`
	Conflicts     int    `json:"conflicts"`
	LastOK        Time   `json:"last_successful_sync"`
	LastAttempt   Time   `json:"last_attempt"`
	LastError     string `json:"last_error"`
	ClockOffsetMs int64  `json:"clock_offset_ms"`
	Epoch         string `json:"epoch"`
	StorageError  string `json:"storage_error"`
}

// FromRecord is the county's record (syncproto.Record, as the feed and
// `records` read it) in the printed shape.
func FromRecord(r syncproto.Record) Record {
	out := Record{Kind: r.Kind, ID: r.ID, Village: r.Village, Rev: r.Rev, Fields: records.Fields(r.Fields),
		Versions: Versions(r.Versions), CreatedBy: r.CreatedBy, CreatedAt: Millis(r.CreatedAt),
		UpdatedBy: r.UpdatedBy, UpdatedAt: Millis(r.UpdatedAt), History: History(r.History), Conflicts: []Conflict{}}
	for _, c := range r.Conflicts {
		out.Conflicts = append(out.Conflicts, FromConflict(c, r.Kind, r.ID, r.Village))
	}
	return out
}

// Versions spells out a field → raw HLC map.
func Versions(v map[string]uint64) map[string]HLC {
	out := make(map[string]HLC, len(v))
	for k, h := range v {
		out[k] = Stamp(h)
	}
	return out
}

// History spells out an application's history; nil becomes [].
func History(h []syncproto.HistoryEntry) []HistoryEntry {
	out := make([]HistoryEntry, 0, len(h))
	for _, e := range h {
		out = append(out, HistoryEntry{ID: e.ID, From: e.From, To: e.To, Op: e.Op, By: e.By, Origin: e.Origin,
			HLC: Stamp(e.HLC), At: Millis(e.At), Comment: e.Comment})
	}
	return out
}

// FromConflict is a county conflict of the record kind/id in village.
func FromConflict(c syncproto.Conflict, kind, recordID, village string) Conflict {
	w, l := Stamp(c.WinnerHLC), Stamp(c.LoserHLC)
	return Conflict{ID: c.ID, Kind: kind, RecordID: recordID, Village: village, Field: c.Field,
		Winner: c.Winner, WinnerHLC: &w, WinnerOrigin: c.WinnerOrigin,
		Loser: c.Loser, LoserHLC: &l, LoserOrigin: c.LoserOrigin, At: Millis(c.At)}
}
