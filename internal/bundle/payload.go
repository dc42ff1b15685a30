package bundle

import "stationsync/syncproto"

// Entry types the agent and the county give a bundle's entries, and the
// JSON some of them hold (PROTOCOL.md §16). The bytes of an "envelope" are
// those a push sends; everything else a downlink says is what the answers
// of a sync round say, with what a sneakernet needs beside them.
const (
	// TypeEnvelope (uplink): one sealed push batch (syncproto.SealBatch),
	// in seq order, byte for byte what POST /v1/push carries.
	TypeEnvelope = "envelope"
	// TypeState (uplink, exactly one): StationState.
	TypeState = "state"
	// TypeBlob (both ways): a file, Name its lowercase hex SHA-256.
	TypeBlob = "blob"
	// TypePush (downlink): PushAnswer, one per envelope of the uplink, in
	// its order.
	TypePush = "push"
	// TypeFeed (downlink): FeedPage, in order.
	TypeFeed = "feed"
	// TypeFiles (downlink, at most one): FileIndex.
	TypeFiles = "files"
	// TypeSummary (downlink, exactly one): Summary.
	TypeSummary = "summary"
)

// StationState is where the station stood when it wrote an uplink: the
// county sends back the feed after Cursor, and neither the files the
// station holds (Have) nor, among them, files it still has to send unless
// the county now holds them (then Acked).
type StationState struct {
	Epoch        string   `json:"epoch"`      // the outbox epoch of the envelopes
	Cursor       int64    `json:"cursor"`     // the feed position pulled up to
	FeedEpoch    string   `json:"feed_epoch"` // names the county database Cursor is of
	AgentVersion string   `json:"agent_version,omitempty"`
	Pending      int      `json:"pending"` // changes queued when written
	Have         []string `json:"have"`    // hashes of the files the station holds, any state
}

// PushAnswer is the county's answer to one envelope of an uplink: either
// Result, exactly as a push would have answered it, or Code (gap,
// epoch_reused, version_unsupported, wrong_village, bad_request) and
// Message. HLCs are the HLCs of the envelope's changes, seq First to
// Last: the station acknowledges a queued change only if its id and its
// HLC are the ones the county applied, so that a downlink carried back to
// a database restored from an older copy (which reuses seqs) never drops
// a change made since.
type PushAnswer struct {
	Epoch   string                `json:"epoch"`
	First   uint64                `json:"first"`
	Last    uint64                `json:"last"`
	HLCs    []uint64              `json:"hlcs"`
	Result  *syncproto.PushResult `json:"result,omitempty"`
	Code    string                `json:"code,omitempty"`
	HWM     uint64                `json:"hwm,omitempty"`
	Message string                `json:"message,omitempty"`
}

// FeedPage is one page of the station's village feed, as a pull would
// have answered it from After, with each record's feed position (Seqs,
// one per record): a station that pulled online after the county wrote
// the downlink already holds newer states, and takes only the records
// beyond its own cursor.
type FeedPage struct {
	After int64              `json:"after"` // the cursor the page was read from (0 when Page.Reset)
	Seqs  []int64            `json:"seqs"`
	Page  syncproto.PullPage `json:"page"`
}

// FileIndex names the records the downlink's files belong to, so that the
// station can show them.
type FileIndex struct {
	Files []FileRef `json:"files"`
}

// FileRef is one file of a downlink.
type FileRef struct {
	Hash     string `json:"hash"`
	Size     int64  `json:"size"`
	Type     string `json:"type"`
	Kind     string `json:"kind"`
	RecordID string `json:"record_id"`
}

// Summary is what the county made of the uplink: for the station's and
// the staff's screens, and the files among StationState.Have the county
// holds whole (Acked), which the station marks acknowledged as a file
// status answer "have" would.
type Summary struct {
	Uplink       string   `json:"uplink"` // the uplink's manifest ID
	ImportedAt   int64    `json:"imported_at"`
	Applied      int      `json:"applied"`
	Duplicate    int      `json:"duplicate"`
	Rejected     int      `json:"rejected"`
	FilesStored  int      `json:"files_stored"`
	FilesRefused []string `json:"files_refused,omitempty"` // Chinese, one per file the county did not take
	// Refused are the files the county will not take (too large, not a
	// JPEG, PNG or PDF), by hash, with why: the station marks them
	// refused, as a file status answer "refused" does.
	Refused map[string]string `json:"refused,omitempty"`
	Acked   []string          `json:"acked"`
}
