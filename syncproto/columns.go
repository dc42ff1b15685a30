package syncproto

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"
)

// The columnar batch (protocol version 2, envelope encoding "zstd-cols").
//
// A batch is a run of changes that look alike: the same kind, the same
// field names, HLCs and times that grow by a little, values of one field
// that resemble each other. Written row by row as JSON, zstd has to find
// those likenesses across 600-byte records; written column by column, with
// numbers as deltas, it finds them next to each other. On generated visits
// the body is 30–40 % smaller at a third of the compression effort (see
// PROTOCOL.md §4.2 and README's benchmarks), and the county decodes it
// without reflection.
//
// Layout, all integers unsigned LEB128 varints ("uv") or zigzag varints
// ("zv"), strings a uv length and the bytes:
//
//	head     string  compact JSON of the batch, "changes": null
//	n        uv      number of changes, 1..MaxChanges
//	first    uv      seq of the first change; seqs are consecutive
//	hlc      n × zv  HLC minus the previous change's (the first: minus 0)
//	at       n × zv  the same for at
//	rev      n × zv
//	kind, op, id, by, base   n strings each; base is "" or a JSON object
//	names    uv count, then that many distinct non-empty strings
//	sets     n × (uv k, then k distinct name indexes)
//	values   for each name in order: one string (a JSON value) per change
//	         whose set holds that name, in change order
//
// Nothing may follow the last value.

// Encodings of an envelope's body.
const (
	EncodingJSON    = "zstd"      // version 1: zstd of the batch as JSON
	EncodingColumns = "zstd-cols" // version 2: zstd of the columnar batch
)

// Bounds of the columnar decoder besides MaxChanges.
const (
	maxFieldNames  = 1024
	maxFieldName   = 64
	maxHeadJSON    = 4096
	maxColumnValue = MaxBatchJSON
)

// encodeColumns writes b in the columnar layout.
func encodeColumns(b *Batch) ([]byte, error) {
	// The head is the Batch itself without its changes, so that a field
	// added to Batch travels in both encodings.
	h := *b
	h.Changes = nil
	head, err := json.Marshal(&h)
	if err != nil {
		return nil, fmt.Errorf("syncproto: encode batch head: %w", err)
	}
	n := len(b.Changes)
	size := len(head) + 16
	for i := range b.Changes {
		c := &b.Changes[i]
		if len(c.Kind) > 64 || len(c.Op) > 64 || len(c.ID) > 64 || len(c.By) > 256 ||
			!utf8.ValidString(c.Kind) || !utf8.ValidString(c.Op) || !utf8.ValidString(c.ID) || !utf8.ValidString(c.By) {
			return nil, fmt.Errorf("%w: change %d: kind, op, id or by too long or not UTF-8", errColumns, c.Seq)
		}
		size += 48 + len(c.Kind) + len(c.Op) + len(c.ID) + len(c.By)
		for k, v := range c.Fields {
			if k == "" || len(k) > maxFieldName || !utf8.ValidString(k) || len(v) == 0 {
				return nil, fmt.Errorf("%w: change %d: field %q cannot be carried", errColumns, c.Seq, k)
			}
			size += len(k)/4 + len(v) + 6
		}
	}
	out := make([]byte, 0, size)
	out = appendString(out, head)
	out = binary.AppendUvarint(out, uint64(n))
	out = binary.AppendUvarint(out, b.Changes[0].Seq)
	var prev uint64
	for i := range b.Changes {
		out = binary.AppendVarint(out, int64(b.Changes[i].HLC-prev))
		prev = b.Changes[i].HLC
	}
	var prevAt int64
	for i := range b.Changes {
		out = binary.AppendVarint(out, b.Changes[i].At-prevAt)
		prevAt = b.Changes[i].At
	}
	for i := range b.Changes {
		out = binary.AppendVarint(out, b.Changes[i].Rev)
	}
	for _, col := range []func(*Change) string{
		func(c *Change) string { return c.Kind },
		func(c *Change) string { return c.Op },
		func(c *Change) string { return c.ID },
		func(c *Change) string { return c.By },
	} {
		for i := range b.Changes {
			out = appendString(out, col(&b.Changes[i]))
		}
	}
	for i := range b.Changes {
		var base []byte
		if len(b.Changes[i].Base) > 0 {
			if base, err = json.Marshal(b.Changes[i].Base); err != nil {
				return nil, fmt.Errorf("syncproto: encode base: %w", err)
			}
		}
		out = appendString(out, base)
	}
	// Field names in order of first use; each change's set as ascending
	// indexes.
	index := map[string]int{}
	var names []string
	sets := make([][]int, n)
	var keys []string
	for i := range b.Changes {
		// In sorted order, so that the same batch always encodes alike.
		keys = keys[:0]
		for name := range b.Changes[i].Fields {
			keys = append(keys, name)
		}
		slices.Sort(keys)
		for _, name := range keys {
			j, ok := index[name]
			if !ok {
				j = len(names)
				index[name] = j
				names = append(names, name)
			}
			sets[i] = append(sets[i], j)
		}
	}
	if len(names) > maxFieldNames {
		return nil, fmt.Errorf("%w: more than %d field names", errColumns, maxFieldNames)
	}
	out = binary.AppendUvarint(out, uint64(len(names)))
	for _, name := range names {
		out = appendString(out, name)
	}
	has := make([][]bool, len(names))
	for j := range has {
		has[j] = make([]bool, n)
	}
	for i, set := range sets {
		slices.Sort(set)
		out = binary.AppendUvarint(out, uint64(len(set)))
		for _, j := range set {
			out = binary.AppendUvarint(out, uint64(j))
			has[j][i] = true
		}
	}
	for j, name := range names {
		for i := range b.Changes {
			if has[j][i] {
				out = appendString(out, b.Changes[i].Fields[name])
			}
		}
	}
	return out, nil
}

func appendString[S string | []byte | json.RawMessage](out []byte, s S) []byte {
	out = binary.AppendUvarint(out, uint64(len(s)))
	return append(out, s...)
}

// columnReader reads the columnar layout without trusting it: every length
// is checked against what is left before anything is allocated for it.
type columnReader struct {
	p   []byte
	err error
}

var errColumns = errors.New("syncproto: decode columnar batch")

func (r *columnReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", errColumns, what)
	}
}

func (r *columnReader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.p)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.p = r.p[n:]
	return v
}

func (r *columnReader) varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.p)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.p = r.p[n:]
	return v
}

// bytes returns the next string's bytes, at most max long, aliasing the
// input.
func (r *columnReader) bytes(what string, max int) []byte {
	l := r.uvarint(what)
	if r.err != nil {
		return nil
	}
	if l > uint64(max) || l > uint64(len(r.p)) {
		r.fail(what + " too long or truncated")
		return nil
	}
	s := r.p[:l:l]
	r.p = r.p[l:]
	return s
}

// interned returns the next string, reusing an equal one seen before: a
// batch names a handful of kinds, ops and cadres ten thousand times.
func (r *columnReader) interned(what string, max int, seen map[string]string) string {
	b := r.bytes(what, max)
	if s, ok := seen[string(b)]; ok {
		return s
	}
	if !utf8.Valid(b) {
		r.fail(what + " is not UTF-8")
		return ""
	}
	s := string(b)
	if len(seen) < 256 {
		seen[s] = s
	}
	return s
}

// decodeColumns reads a columnar batch and checks the same shape as
// DecodeBatch does for JSON.
func decodeColumns(raw []byte) (*Batch, error) {
	r := &columnReader{p: raw}
	headJSON := r.bytes("head", maxHeadJSON)
	if r.err != nil {
		return nil, r.err
	}
	var head Batch
	dec := json.NewDecoder(bytes.NewReader(headJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&head); err != nil {
		return nil, fmt.Errorf("%w: head: %v", errColumns, err)
	}
	if !atEOF(dec) {
		return nil, fmt.Errorf("%w: head: trailing data", errColumns)
	}
	if head.Changes != nil {
		return nil, fmt.Errorf("%w: head: changes belong in the columns", errColumns)
	}
	n := r.uvarint("count")
	if r.err == nil && (n == 0 || n > MaxChanges) {
		return nil, errors.New("syncproto: batch must hold 1 to 20000 changes")
	}
	// Each change takes at least 9 bytes (3 varints, 5 empty strings and
	// its set's count): refuse a count the input cannot hold before
	// allocating for it.
	if r.err == nil && n*9 > uint64(len(r.p)) {
		r.fail("truncated")
	}
	first := r.uvarint("first seq")
	if r.err != nil {
		return nil, r.err
	}
	if first == 0 || first+n < first {
		return nil, fmt.Errorf("syncproto: change %d lacks seq, kind, id or op", first)
	}
	b := &head
	b.Changes = make([]Change, n)
	cs := b.Changes
	var hlc uint64
	for i := range cs {
		cs[i].Seq = first + uint64(i)
		hlc += uint64(r.varint("hlc"))
		cs[i].HLC = hlc
	}
	var at int64
	for i := range cs {
		at += r.varint("at")
		cs[i].At = at
	}
	for i := range cs {
		cs[i].Rev = r.varint("rev")
	}
	seen := map[string]string{}
	for i := range cs {
		cs[i].Kind = r.interned("kind", 64, seen)
	}
	for i := range cs {
		cs[i].Op = r.interned("op", 64, seen)
	}
	for i := range cs {
		id := r.bytes("id", 64)
		if !utf8.Valid(id) {
			r.fail("id is not UTF-8")
		}
		cs[i].ID = string(id)
	}
	for i := range cs {
		cs[i].By = r.interned("by", 256, seen)
	}
	for i := range cs {
		base := r.bytes("base", 64<<10)
		if r.err == nil && len(base) > 0 {
			if err := json.Unmarshal(base, &cs[i].Base); err != nil || len(cs[i].Base) == 0 {
				r.fail("base is not an object of versions")
			}
		}
	}
	nn := r.uvarint("field names")
	if r.err == nil && nn > maxFieldNames {
		r.fail("too many field names")
	}
	if r.err != nil {
		return nil, r.err
	}
	names := make([]string, nn)
	used := make(map[string]bool, nn)
	for j := range names {
		names[j] = string(r.bytes("field name", maxFieldName))
		if r.err == nil && (names[j] == "" || used[names[j]] || !utf8.ValidString(names[j])) {
			r.fail("field names must be distinct, non-empty UTF-8")
		}
		used[names[j]] = true
	}
	sets := make([][]uint32, n)
	for i := range sets {
		k := r.uvarint("field set")
		if r.err == nil && k > nn {
			r.fail("field set larger than the names")
		}
		if r.err != nil {
			return nil, r.err
		}
		if k == 0 {
			continue
		}
		set := make([]uint32, k)
		for x := range set {
			j := r.uvarint("field index")
			if r.err == nil && (j >= nn || (x > 0 && uint32(j) <= set[x-1])) {
				r.fail("field indexes must be ascending and known")
			}
			set[x] = uint32(j)
		}
		sets[i] = set
		cs[i].Fields = make(map[string]json.RawMessage, k)
	}
	if r.err != nil {
		return nil, r.err
	}
	// Values come name by name; pos[i] is how far change i's set is done.
	pos := make([]uint16, n)
	for j := range names {
		for i := range cs {
			set := sets[i]
			if int(pos[i]) >= len(set) || set[pos[i]] != uint32(j) {
				continue
			}
			pos[i]++
			v := r.bytes("value", maxColumnValue)
			if r.err != nil {
				return nil, r.err
			}
			if !json.Valid(v) {
				return nil, fmt.Errorf("%w: field %q of change %d is not JSON", errColumns, names[j], cs[i].Seq)
			}
			cs[i].Fields[names[j]] = json.RawMessage(v)
		}
	}
	if len(r.p) != 0 {
		return nil, fmt.Errorf("%w: trailing data", errColumns)
	}
	if err := checkBatch(b); err != nil {
		return nil, err
	}
	return b, nil
}
