package server

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"stationsync/internal/hlc"
	"stationsync/internal/records"
	"stationsync/syncproto"
)

// CountyOrigin is the origin of changes made at the county.
const CountyOrigin = "county"

// change is a station's or the county's change as the merge sees it.
type change struct {
	origin  string // station id or CountyOrigin
	village string // the station's village; for the county, the record's
	kind    records.Kind
	id      string
	op      records.Op
	fields  records.Fields
	base    map[string]uint64
	rev     int64
	hlc     hlc.Timestamp
	clamped bool // the HLC was in the county's future and was replaced
	by      string
	at      int64
	histID  string
	comment string
}

// outcome is what the merge did with a change.
type outcome struct {
	status string // syncproto.Applied or syncproto.Rejected
	code   string
	reason string
	rev    int64
	clean  bool
}

func reject(code, reason string) outcome {
	return outcome{status: syncproto.Rejected, code: code, reason: reason}
}

// row is one record as stored at the county.
type row struct {
	exists        bool
	id, village   string
	fields        records.Fields
	versions      map[string]uint64
	origins       map[string]string
	rev           int64
	synced        string
	createdBy     string
	createdAt     int64
	createdOrigin string
	updatedBy     string
	updatedAt     int64
}

// merger applies changes inside one transaction.
type merger struct {
	tx    *sql.Tx
	now   int64
	stmts map[string]*sql.Stmt
}

func newMerger(tx *sql.Tx, now int64) *merger {
	return &merger{tx: tx, now: now, stmts: map[string]*sql.Stmt{}}
}

func (m *merger) close() {
	for _, s := range m.stmts {
		s.Close()
	}
}

func (m *merger) stmt(q string) (*sql.Stmt, error) {
	if s, ok := m.stmts[q]; ok {
		return s, nil
	}
	s, err := m.tx.Prepare(q)
	if err != nil {
		return nil, err
	}
	m.stmts[q] = s
	return s, nil
}

const rowHead = "id, village, "
const rowTail = ", versions, origins, rev, synced_station, created_by, created_at, created_origin, updated_by, updated_at"

func (m *merger) load(s *records.Schema, id string) (*row, error) {
	st, err := m.stmt("SELECT " + rowHead + strings.Join(s.Columns(), ", ") + rowTail + " FROM " + s.Table + " WHERE id = ?")
	if err != nil {
		return nil, err
	}
	r := &row{id: id}
	targets := s.ScanTargets()
	var versions, origins string
	dest := append([]any{&r.id, &r.village}, targets...)
	dest = append(dest, &versions, &origins, &r.rev, &r.synced, &r.createdBy, &r.createdAt, &r.createdOrigin, &r.updatedBy, &r.updatedAt)
	switch err := st.QueryRow(id).Scan(dest...); {
	case errors.Is(err, sql.ErrNoRows):
		return &row{id: id, fields: records.Fields{}, versions: map[string]uint64{}, origins: map[string]string{}}, nil
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
	return r, nil
}

func (m *merger) save(s *records.Schema, r *row) error {
	cols := s.Columns()
	all := append(append([]string{"id", "village"}, cols...),
		"versions", "origins", "rev", "synced_station", "created_by", "created_at", "created_origin", "updated_by", "updated_at", "received_at")
	set := make([]string, 0, len(all))
	for _, c := range all[2:] {
		if c == "created_by" || c == "created_at" || c == "created_origin" {
			continue
		}
		set = append(set, c+" = excluded."+c)
	}
	q := "INSERT INTO " + s.Table + " (" + strings.Join(all, ", ") + ") VALUES (" + placeholders(len(all)) +
		") ON CONFLICT(id) DO UPDATE SET " + strings.Join(set, ", ")
	st, err := m.stmt(q)
	if err != nil {
		return err
	}
	vals, err := s.SQLValues(r.fields)
	if err != nil {
		return err
	}
	versions, _ := json.Marshal(r.versions)
	origins, _ := json.Marshal(r.origins)
	args := append([]any{r.id, r.village}, vals...)
	args = append(args, string(versions), string(origins), r.rev, r.synced, r.createdBy, r.createdAt, r.createdOrigin, r.updatedBy, r.updatedAt, m.now)
	if _, err := st.Exec(args...); err != nil {
		return fmt.Errorf("save %s %s: %w", s.Kind, r.id, err)
	}
	return nil
}

// touchFeed moves the record to the head of its village's feed.
func (m *merger) touchFeed(village string, kind records.Kind, id, skip string) error {
	st, err := m.stmt(`INSERT OR REPLACE INTO feed (village, kind, record_id, skip_station) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	if _, err := st.Exec(village, string(kind), id, skip); err != nil {
		return fmt.Errorf("feed %s %s: %w", kind, id, err)
	}
	return nil
}

func (m *merger) exists(kind records.Kind, id, village string) (bool, error) {
	s := records.SchemaOf(kind)
	st, err := m.stmt("SELECT count(*) FROM " + s.Table + " WHERE id = ? AND village = ?")
	if err != nil {
		return false, err
	}
	var n int
	if err := st.QueryRow(id, village).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

// apply merges one change. A rejection is an outcome, not an error: errors
// are only failures of the store, which abort the whole batch.
//
// The rules (see PROTOCOL.md, "Merge"): the station owns its content fields,
// the county its decision fields; a field both may edit takes the value with
// the later HLC when the edits were concurrent (the change was not based on
// the value it replaces), and the loser is kept in conflicts.
func (m *merger) apply(c *change) (outcome, error) {
	s := records.SchemaOf(c.kind)
	if s == nil {
		return reject(syncproto.CodeInvalidChange, fmt.Sprintf("未知的记录类型 %q", c.kind)), nil
	}
	r, err := m.load(s, c.id)
	if err != nil {
		return outcome{}, err
	}
	if r.exists && c.village != "" && r.village != c.village {
		return reject(syncproto.CodeWrongVillage, "这条记录属于其他村，本站不能修改"), nil
	}
	if !r.exists {
		r.village = c.village
		r.createdBy, r.createdAt, r.createdOrigin = c.by, c.at, c.origin
	}
	station := c.origin != CountyOrigin
	viewOK := (!r.exists && c.rev == 0) || (r.exists && (c.rev == r.rev || (station && r.synced == c.origin)))
	clean := viewOK && !c.clamped

	switch {
	case c.op == records.OpUpsert:
		o, ok, err := m.upsert(s, r, c)
		if err != nil || !ok {
			return o, err
		}
		clean = clean && o.clean
	case records.IsIntent(c.op):
		if c.kind != records.Application {
			return reject(syncproto.CodeInvalidChange, "只有救助申请可以提交、撤回或审核"), nil
		}
		if station == records.IsCountyOp(c.op) {
			return reject(syncproto.CodeOwnership, "审核决定由县里作出，村站只能提交、重新提交或撤回"), nil
		}
		if !r.exists {
			return reject(syncproto.CodeNotFound, "县里没有这份申请的记录，请先保存申请内容"), nil
		}
		from := records.TextValue(r.fields, "status")
		to, err := records.Transition(c.op, from)
		if err != nil {
			return reject(syncproto.CodeNotAllowed, err.(*records.FieldError).Message), nil
		}
		if !station {
			for name, v := range c.fields {
				r.fields[name] = v
				r.versions[name], r.origins[name] = uint64(c.hlc), c.origin
			}
		}
		r.fields["status"] = records.JSONText(to)
		r.versions["status"], r.origins["status"] = uint64(c.hlc), c.origin
		if err := m.addHistory(c, from, to); err != nil {
			return outcome{}, err
		}
	default:
		return reject(syncproto.CodeInvalidChange, fmt.Sprintf("未知的操作 %q", c.op)), nil
	}

	r.rev++
	r.updatedBy, r.updatedAt = c.by, c.at
	r.synced = ""
	if station && clean {
		r.synced = c.origin
	}
	if err := m.save(s, r); err != nil {
		return outcome{}, err
	}
	if err := m.touchFeed(r.village, c.kind, r.id, r.synced); err != nil {
		return outcome{}, err
	}
	return outcome{status: syncproto.Applied, rev: r.rev, clean: station && clean}, nil
}

// upsert sets fields. ok is false when the change was rejected.
func (m *merger) upsert(s *records.Schema, r *row, c *change) (outcome, bool, error) {
	station := c.origin != CountyOrigin
	for name := range c.fields {
		f, ok := s.Field(name)
		if !ok {
			return reject(syncproto.CodeInvalidChange, fmt.Sprintf("%s没有字段 %q", s.Label, name)), false, nil
		}
		if station && f.Owner == records.County {
			return reject(syncproto.CodeOwnership, fmt.Sprintf("「%s」由县里决定，村站不能修改", f.Label)), false, nil
		}
		if !station && f.Owner == records.Station && r.exists {
			return reject(syncproto.CodeOwnership, fmt.Sprintf("「%s」由村站维护，县里不能修改", f.Label)), false, nil
		}
	}
	if err := records.Validate(c.kind, c.fields, !r.exists); err != nil {
		var fe *records.FieldError
		if errors.As(err, &fe) {
			return reject(syncproto.CodeInvalidChange, fe.Message), false, nil
		}
		return outcome{}, false, err
	}
	if c.kind == records.Application {
		status := records.TextValue(r.fields, "status")
		if station && !records.StationEditable(status) {
			return reject(syncproto.CodeNotAllowed, "申请已提交审核（"+records.StatusLabel[status]+"），不能再修改内容；如需修改，请等县里退回后再改"), false, nil
		}
		if !r.exists {
			r.fields["status"] = records.JSONText(records.StatusDraft)
			r.versions["status"], r.origins["status"] = uint64(c.hlc), c.origin
		}
	}
	if ref, kind := reference(c.kind); ref != "" {
		if raw, ok := c.fields[ref]; ok {
			ok, err := m.exists(kind, records.TextValue(c.fields, ref), r.village)
			if err != nil {
				return outcome{}, false, err
			}
			if !ok {
				_ = raw
				return reject(syncproto.CodeNotFound, "关联的关爱对象在县里不存在，请先同步或修正该对象的信息"), false, nil
			}
		}
	}
	clean := true
	for _, name := range sortedKeys(c.fields) {
		v := c.fields[name]
		cur, had := r.versions[name]
		curOrigin := r.origins[name]
		sequential := !had || c.base[name] == cur || curOrigin == c.origin
		if sequential || hlc.Timestamp(cur) < c.hlc || (hlc.Timestamp(cur) == c.hlc && c.origin > curOrigin) {
			if !sequential && !records.Equal(r.fields[name], v) {
				if err := m.addConflict(r, c, name, v, uint64(c.hlc), c.origin, r.fields[name], cur, curOrigin); err != nil {
					return outcome{}, false, err
				}
				clean = false
			}
			r.fields[name] = v
			r.versions[name], r.origins[name] = uint64(c.hlc), c.origin
			continue
		}
		// The change lost: the county keeps its value, and the station's
		// is kept as a conflict and sent back down with the record.
		clean = false
		if !records.Equal(r.fields[name], v) {
			if err := m.addConflict(r, c, name, r.fields[name], cur, curOrigin, v, uint64(c.hlc), c.origin); err != nil {
				return outcome{}, false, err
			}
		}
	}
	return outcome{clean: clean}, true, nil
}

func reference(k records.Kind) (string, records.Kind) {
	switch k {
	case records.Visit:
		return "person_id", records.Person
	case records.Application:
		return "applicant_id", records.Person
	}
	return "", ""
}

func (m *merger) addConflict(r *row, c *change, field string, winner json.RawMessage, wHLC uint64, wOrigin string, loser json.RawMessage, lHLC uint64, lOrigin string) error {
	st, err := m.stmt(`INSERT INTO conflicts (id, kind, record_id, village, field, winner, winner_hlc, winner_origin, loser, loser_hlc, loser_origin, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	id := fmt.Sprintf("%s.%s.%d.%s", c.origin, c.id, c.hlc, field)
	_, err = st.Exec(id, string(c.kind), r.id, r.village, field, string(records.Canonical(winner)), int64(wHLC), wOrigin,
		string(records.Canonical(loser)), int64(lHLC), lOrigin, m.now)
	if err != nil {
		return fmt.Errorf("record conflict: %w", err)
	}
	return nil
}

func (m *merger) addHistory(c *change, from, to string) error {
	st, err := m.stmt(`INSERT INTO application_history (id, application_id, from_status, to_status, op, by_name, origin, hlc, at, comment)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	if _, err := st.Exec(c.histID, c.id, from, to, string(c.op), c.by, c.origin, int64(c.hlc), c.at, c.comment); err != nil {
		return fmt.Errorf("application history: %w", err)
	}
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

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
