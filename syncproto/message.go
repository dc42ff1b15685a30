package syncproto

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Version is the protocol version this build speaks. MinVersion is the
// oldest a server still answers: agents stay in the field for years and are
// upgraded one village at a time, so a server answers an agent one version
// older.
const (
	Version    = 2
	MinVersion = 1
)

// HeaderVersion carries the sender's protocol version on every request.
const HeaderVersion = "X-Stationsync-Version"

// HeaderServerTime carries the server's clock (unix ms) on every answer, so
// a station learns how wrong its own clock is.
const HeaderServerTime = "X-Server-Time"

// Change is one station-made change of one record. Its identity is
// (station, epoch, seq): seq is the station's outbox sequence, strictly
// increasing within an epoch, so a batch needs no random ids besides the
// record's own.
type Change struct {
	Seq  uint64 `json:"seq"`
	HLC  uint64 `json:"hlc"`
	Kind string `json:"kind"`
	ID   string `json:"id"`
	// Op is "upsert" (set Fields) or an intent the county's state machine
	// decides on ("submit", "resubmit", "withdraw").
	Op     string                     `json:"op"`
	Fields map[string]json.RawMessage `json:"fields,omitempty"`
	// Base holds, for fields both sides may edit, the version (HLC) of the
	// value the edit replaced; a different version at the county means the
	// edits were concurrent and the loser is kept as a conflict.
	Base map[string]uint64 `json:"base,omitempty"`
	// Rev is the county's revision of the record the station last saw.
	Rev int64  `json:"rev,omitempty"`
	By  string `json:"by,omitempty"` // the cadre who made the change
	At  int64  `json:"at,omitempty"` // station wall clock, unix ms, for display only
}

// Batch is what a station pushes: a run of consecutive changes of one
// epoch. It is self-contained, so that the same bytes can travel on a USB
// stick.
type Batch struct {
	Version int    `json:"v"`
	Station string `json:"station"`
	Epoch   string `json:"epoch"`
	Village string `json:"village"`
	// SentHLC is the station's clock when it sealed the batch; Pending is how
	// many changes wait at the station (for the county's health page).
	SentHLC      uint64   `json:"sent_hlc"`
	Pending      int      `json:"pending"`
	AgentVersion string   `json:"agent_version,omitempty"`
	Changes      []Change `json:"changes"`
}

// Change results.
const (
	Applied   = "applied"
	Duplicate = "duplicate"
	Rejected  = "rejected"
)

// ChangeResult is the server's answer for one change. The station drops a
// change from its outbox only when a result names it.
type ChangeResult struct {
	Seq    uint64 `json:"seq"`
	Status string `json:"status"`
	Code   string `json:"code,omitempty"`
	Reason string `json:"reason,omitempty"` // Chinese, for the cadre
	Rev    int64  `json:"rev,omitempty"`
	// Clean means the county's record now equals the station's: the station
	// may take Rev as its own and the change is not echoed back in the feed.
	Clean bool `json:"clean,omitempty"`
}

// PushResult answers a batch.
type PushResult struct {
	Version    int            `json:"v"`
	ServerTime int64          `json:"server_time"`
	ServerHLC  uint64         `json:"server_hlc"`
	Epoch      string         `json:"epoch"`
	HWM        uint64         `json:"hwm"` // highest seq of this epoch the county holds
	Results    []ChangeResult `json:"results"`
	// ClockAhead is set when the batch carried HLC values far in the
	// county's future; they were clamped to the county's clock.
	ClockAhead bool `json:"clock_ahead,omitempty"`
	// ServerMs is the time the county spent on the push, from its arrival
	// to the answer, without reading the body: the station takes it out of
	// the round trip to measure its link, not the county's load.
	ServerMs int64 `json:"server_ms,omitempty"`
}

// HistoryID is the id of the status-history entry a station's intent
// makes: <station>.<epoch>.<seq> (PROTOCOL.md §10.4). The station writes the
// entry locally under this id and the county makes the same one when the
// intent arrives, so both sides hold one entry, not two.
func HistoryID(station, epoch string, seq uint64) string {
	return station + "." + epoch + "." + strconv.FormatUint(seq, 10)
}

// HistoryEntry is one step of an application's status history.
type HistoryEntry struct {
	ID      string `json:"id"`
	From    string `json:"from"`
	To      string `json:"to"`
	Op      string `json:"op"`
	By      string `json:"by"`
	Origin  string `json:"origin"` // station id, or "county"
	HLC     uint64 `json:"hlc"`
	At      int64  `json:"at"`
	Comment string `json:"comment,omitempty"`
}

// Conflict is a losing value the merge kept, never dropped.
type Conflict struct {
	ID           string          `json:"id"`
	Field        string          `json:"field"`
	Winner       json.RawMessage `json:"winner"`
	WinnerHLC    uint64          `json:"winner_hlc"`
	WinnerOrigin string          `json:"winner_origin"`
	Loser        json.RawMessage `json:"loser"`
	LoserHLC     uint64          `json:"loser_hlc"`
	LoserOrigin  string          `json:"loser_origin"`
	At           int64           `json:"at"`
}

// Record is the county's state of one record, as the feed sends it down.
type Record struct {
	Kind      string                     `json:"kind"`
	ID        string                     `json:"id"`
	Village   string                     `json:"village"`
	Rev       int64                      `json:"rev"`
	Fields    map[string]json.RawMessage `json:"fields"`
	Versions  map[string]uint64          `json:"versions"`
	CreatedBy string                     `json:"created_by,omitempty"`
	CreatedAt int64                      `json:"created_at,omitempty"`
	UpdatedBy string                     `json:"updated_by,omitempty"`
	UpdatedAt int64                      `json:"updated_at,omitempty"`
	History   []HistoryEntry             `json:"history,omitempty"`
	Conflicts []Conflict                 `json:"conflicts,omitempty"`
}

// PullPage is one page of the change feed of a station's village.
type PullPage struct {
	Version    int      `json:"v"`
	ServerTime int64    `json:"server_time"`
	ServerHLC  uint64   `json:"server_hlc"`
	FeedEpoch  string   `json:"feed_epoch"`
	Reset      bool     `json:"reset,omitempty"` // the cursor was from another feed epoch: start over
	Records    []Record `json:"records"`
	Next       int64    `json:"next"` // cursor to ask from next time
	More       bool     `json:"more"`
	// BundleKey is the county's Ed25519 public key, 64 lowercase hex
	// digits, that signs the downlink bundles it writes for USB sticks
	// (PROTOCOL.md §16); absent from counties before bundles. Stations
	// enrolled before it learn it here, over the channel that already
	// brings them the feed.
	BundleKey string `json:"bundle_key,omitempty"`
}

// EnrollRequest exchanges a one-time code for a station identity. The key
// pair is made on the station; only the public key travels.
type EnrollRequest struct {
	Version      int    `json:"v"`
	Code         string `json:"code"`
	PublicKey    []byte `json:"public_key"`
	Hostname     string `json:"hostname,omitempty"`
	AgentVersion string `json:"agent_version,omitempty"`
}

// EnrollResponse names the new station.
type EnrollResponse struct {
	Version    int    `json:"v"`
	StationID  string `json:"station_id"`
	Village    string `json:"village"`
	County     string `json:"county"`
	ServerTime int64  `json:"server_time"`
	// The names the county gave its county, township and village codes
	// (empty if none): the station shows them to the person who must
	// confirm, before records made offline go up, that this is their
	// county.
	CountyName   string `json:"county_name,omitempty"`
	TownshipName string `json:"township_name,omitempty"`
	VillageName  string `json:"village_name,omitempty"`
	// BundleKey is the county's public key for downlink bundles (§16), as
	// in PullPage; absent from counties before bundles.
	BundleKey string `json:"bundle_key,omitempty"`
}

// ErrorBody is the JSON body of every 4xx/5xx answer.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"` // Chinese, safe to show a cadre
		HWM     uint64 `json:"hwm,omitempty"`
		Server  int    `json:"server_version,omitempty"`
	} `json:"error"`
}

// Error codes of ErrorBody.
const (
	CodeBadRequest    = "bad_request"
	CodeTooLarge      = "too_large"
	CodeBadSignature  = "bad_signature"
	CodeUnknownStn    = "unknown_station"
	CodeRevoked       = "revoked"
	CodeClockSkew     = "clock_skew"
	CodeVersion       = "version_unsupported"
	CodeGap           = "gap"
	CodeEpochReused   = "epoch_reused"
	CodeCodeInvalid   = "code_invalid"
	CodeCodeUsed      = "code_used"
	CodeCodeExpired   = "code_expired"
	CodeOverloaded    = "overloaded"
	CodeRateLimited   = "rate_limited"
	CodeInternal      = "internal"
	CodeWrongVillage  = "wrong_village"
	CodeNotFound      = "not_found"
	CodeInvalidChange = "invalid"
	CodeNotAllowed    = "not_allowed"
	CodeOwnership     = "ownership"
)

// CheckVersion returns a *VersionError unless the server, speaking
// Version, answers a peer speaking v.
func CheckVersion(v int) error {
	if v < MinVersion || v > Version {
		return &VersionError{Peer: v, Local: Version}
	}
	return nil
}

// VersionError says two peers cannot talk; it names both versions.
type VersionError struct{ Peer, Local int }

func (e *VersionError) Error() string {
	return fmt.Sprintf("syncproto: peer speaks protocol version %d, this side speaks %d (accepts %d–%d)", e.Peer, e.Local, MinVersion, Version)
}
