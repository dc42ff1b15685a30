package server

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"stationsync/internal/records"
	"stationsync/internal/sqlitedb"
)

// sqlOf holds the statements of each kind's table, built once. A new
// record is an INSERT and a known one an UPDATE, never one upsert: an
// upsert on a table with triggers needs a statement journal, which made
// every row of a batch of new visits cost three times as much.
type sqlOf struct{ load, insert, update, exists, touch string }

var kindSQL = func() map[records.Kind]sqlOf {
	out := map[records.Kind]sqlOf{}
	for _, k := range records.Kinds {
		s := records.SchemaOf(k)
		all := append(append([]string{"id", "village"}, s.Columns()...),
			"versions", "origins", "base_hlc", "rev", "synced_station", "created_by", "created_at", "created_origin", "updated_by", "updated_at", "received_at", "feed_seq", "feed_skip")
		set := make([]string, 0, len(all))
		for _, c := range all[2:] {
			if c == "created_by" || c == "created_at" || c == "created_origin" || c == "base_hlc" {
				continue
			}
			set = append(set, c+" = ?")
		}
		out[k] = sqlOf{
			load:   "SELECT " + rowHead + strings.Join(s.Columns(), ", ") + rowTail + " FROM " + s.Table + " WHERE id = ?",
			insert: "INSERT INTO " + s.Table + " (" + strings.Join(all, ", ") + ") VALUES (" + sqlitedb.Placeholders(len(all)) + ")",
			update: "UPDATE " + s.Table + " SET " + strings.Join(set, ", ") + " WHERE id = ?",
			exists: "SELECT count(*) FROM " + s.Table + " WHERE id = ? AND village = ?",
			touch:  "UPDATE " + s.Table + " SET feed_seq = ?, feed_skip = '' WHERE id = ?",
		}
	}
	return out
}()

const rowHead = "id, village, "
const rowTail = ", versions, origins, base_hlc, rev, synced_station, created_by, created_at, created_origin, updated_by, updated_at"

func (m *merger) load(s *records.Schema, id string) (*row, error) {
	if m.absent[recKey{s.Kind, id}] {
		return newRow(s, id), nil
	}
	st, err := m.stmt(kindSQL[s.Kind].load)
	if err != nil {
		return nil, err
	}
	r := &row{id: id}
	targets := s.ScanTargets()
	var versions, origins string
	dest := append([]any{&r.id, &r.village}, targets...)
	var base int64
	dest = append(dest, &versions, &origins, &base, &r.rev, &r.synced, &r.createdBy, &r.createdAt, &r.createdOrigin, &r.updatedBy, &r.updatedAt)
	switch err := st.QueryRow(id).Scan(dest...); {
	case errors.Is(err, sql.ErrNoRows):
		return newRow(s, id), nil
	case err != nil:
		return nil, fmt.Errorf("load %s %s: %w", s.Kind, id, err)
	}
	r.exists = true
	r.fields = s.FromScan(targets)
	if err := json.Unmarshal([]byte(versions), &r.versions); err != nil {
		return nil, fmt.Errorf("load %s %s versions: %w", s.Kind, id, err)
	}
	if err := json.Unmarshal([]byte(origins), &r.origins); err != nil {
		return nil, fmt.Errorf("load %s %s origins: %w", s.Kind, id, err)
	}
	r.base = uint64(base)
	expandVersions(r.fields, r.versions, r.base)
	for name := range r.versions {
		if _, ok := r.origins[name]; !ok {
			r.origins[name] = r.createdOrigin
		}
	}
	return r, nil
}

// expandVersions gives every field that has a value and no version of its
// own the record's base version. The stores keep only the versions that
// differ from the base: a new record's fields all share one, and writing
// it out per field doubled the size of every row.
func expandVersions(fields records.Fields, versions map[string]uint64, base uint64) {
	for name, v := range fields {
		if _, ok := versions[name]; !ok && len(v) > 0 && string(v) != "null" {
			versions[name] = base
		}
	}
}

// newRow is a record the county does not hold yet, with room for every
// field. It has no versions or origins: a record made by one change has
// all its fields at that change's HLC and origin, its base and created
// origin, which the row does not spell out (versionsJSON), so maps for
// them would be built only to be thrown away.
func newRow(s *records.Schema, id string) *row {
	return &row{id: id, fields: make(records.Fields, len(s.Fields))}
}

// setVersion records that field name holds a value of version h from
// origin.
func (r *row) setVersion(name string, h uint64, origin string) {
	if r.versions == nil {
		if h == r.base && origin == r.createdOrigin {
			return
		}
		r.versions, r.origins = map[string]uint64{}, map[string]string{}
	}
	r.versions[name], r.origins[name] = h, origin
}

func (m *merger) save(s *records.Schema, r *row) error {
	vals, err := r.vals, r.valsErr
	if vals == nil && err == nil {
		vals, err = s.SQLValues(r.fields)
	}
	if err != nil {
		return err
	}
	versions, origins := versionsJSON(r.versions, r.base), originsJSON(r.origins, r.createdOrigin)
	args := make([]any, 0, len(vals)+13)
	q := kindSQL[s.Kind].insert
	if r.exists {
		q = kindSQL[s.Kind].update
		args = append(args, vals...)
		args = append(args, versions, origins, r.rev, r.synced, r.updatedBy, r.updatedAt, m.now, m.nextFeedSeq(), r.synced, r.id)
	} else {
		args = append(args, r.id, r.village)
		args = append(args, vals...)
		args = append(args, versions, origins, int64(r.base), r.rev, r.synced, r.createdBy, r.createdAt, r.createdOrigin, r.updatedBy, r.updatedAt, m.now, m.nextFeedSeq(), r.synced)
	}
	st, err := m.stmt(q)
	if err != nil {
		return err
	}
	if _, err := st.Exec(args...); err != nil {
		return fmt.Errorf("save %s %s: %w", s.Kind, r.id, err)
	}
	r.exists = true
	delete(m.absent, recKey{s.Kind, r.id})
	m.present[placed{recKey{s.Kind, r.id}, r.village}] = true
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range maps.Keys(m) {
		keys = append(keys, k)
	}
	if len(keys) > 1 {
		slices.Sort(keys)
	}
	return keys
}

// versionsJSON encodes the versions that differ from base, as json.Marshal
// would (keys sorted), without reflection: it runs once per merged record.
func versionsJSON(m map[string]uint64, base uint64) string {
	b := make([]byte, 0, 32*len(m)+2)
	b = append(b, '{')
	for _, k := range sortedKeys(m) {
		if m[k] == base {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = strconv.AppendUint(b, m[k], 10)
	}
	return string(append(b, '}'))
}

// originsJSON encodes the origins that differ from def, as json.Marshal
// would.
func originsJSON(m map[string]string, def string) string {
	b := make([]byte, 0, 48*len(m)+2)
	b = append(b, '{')
	for _, k := range sortedKeys(m) {
		if m[k] == def {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, m[k])
	}
	return string(append(b, '}'))
}

// appendJSONString appends s as a JSON string, byte for byte as
// json.Marshal writes it: plain ASCII directly, anything else through
// encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
