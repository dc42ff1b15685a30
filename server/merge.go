package server

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"

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
	pre     *prepared // work done ahead for a record the county lacked; may be nil
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

// row is one record as stored at the county. versions and origins are nil
// for a new row until a field's version or origin differs from base and
// createdOrigin (setVersion).
type row struct {
	exists        bool
	id, village   string
	fields        records.Fields
	versions      map[string]uint64
	origins       map[string]string
	base          uint64 // the version of every field without its own
	rev           int64
	synced        string
	createdBy     string
	createdAt     int64
	createdOrigin string
	updatedBy     string
	updatedAt     int64
	// vals, if set, are the column values of fields, computed ahead.
	vals    []any
	valsErr error
}

// merger applies changes inside one transaction.
type merger struct {
	tx  *sql.Tx
	db  *Database // for the dialect
	now int64
	// feedSeq is the county's feed counter (CountyStore.feedSeq): every
	// record written takes the next value as its feed_seq. Mergers are
	// made under the writer lock, in countyWrite or pushGroup, which store
	// the counter before commit (persistClocks).
	feedSeq *int64
	stmts   map[string]*sql.Stmt
	// present remembers the records exists found in this transaction: a
	// batch of visits refers to the same few people again and again, and
	// the merge never deletes a record or moves it to another village.
	present map[placed]bool
	// absent holds the records prefetch found missing and no change has
	// saved since: load needs no query for them.
	absent map[recKey]bool
	// ahead delivers, in batch order, what prepareAhead computed for the
	// changes in aheadOf; stop ends that work early.
	ahead   chan *prepared
	aheadOf map[*syncproto.Change]bool
	stop    atomic.Bool
	// conflicts counts the conflicts addConflict recorded (the metrics').
	conflicts int
}

// prepared is the CPU work a change that creates a record needs before it
// touches the database: validation, and the column values when the new row
// holds exactly the change's fields. It depends only on the change, so it
// runs on another core while earlier changes are written.
type prepared struct {
	c       *syncproto.Change
	valid   error // records.Validate(kind, fields, true)
	vals    []any // nil for applications, whose new row also gets a status
	valsErr error
}

// minAhead is the batch size from which preparing ahead pays for its
// goroutine.
const minAhead = 64

// prepareAhead starts preparing the upserts of changes whose record
// prefetch found missing. Each such change must then be fetched with
// prepared, in batch order, and close stops the work.
func (m *merger) prepareAhead(changes []syncproto.Change) {
	var list []*syncproto.Change
	for i := range changes {
		c := &changes[i]
		if records.Op(c.Op) == records.OpUpsert && m.absent[recKey{records.Kind(c.Kind), c.ID}] {
			list = append(list, c)
		}
	}
	if len(list) < minAhead {
		return
	}
	m.ahead = make(chan *prepared, len(list)) // never blocks the worker
	m.aheadOf = make(map[*syncproto.Change]bool, len(list))
	for _, c := range list {
		m.aheadOf[c] = true
	}
	go func() {
		for _, c := range list {
			if m.stop.Load() {
				return
			}
			kind, fields := records.Kind(c.Kind), records.Fields(c.Fields)
			p := &prepared{c: c, valid: records.Validate(kind, fields, true)}
			if p.valid == nil && kind != records.Application {
				p.vals, p.valsErr = records.SchemaOf(kind).SQLValues(fields)
			}
			m.ahead <- p
		}
	}()
}

// prepared returns what prepareAhead computed for c, or nil.
func (m *merger) prepared(c *syncproto.Change) *prepared {
	if !m.aheadOf[c] {
		return nil
	}
	p := <-m.ahead
	if p.c != c {
		// Fetched out of order: trust none of it.
		m.aheadOf = nil
		return nil
	}
	return p
}

func newMerger(db *Database, tx *sql.Tx, now int64, feedSeq *int64) *merger {
	return &merger{tx: tx, db: db, now: now, feedSeq: feedSeq, stmts: map[string]*sql.Stmt{}, present: map[placed]bool{}, absent: map[recKey]bool{}}
}

// recKey and placed are map keys of structs, not joined strings: they are
// looked up several times for every merged record, and joining allocates.
type recKey struct {
	kind records.Kind
	id   string
}

type placed struct {
	recKey
	village string
}

// prefetch asks, in one query per kind, which of the records the changes
// name, and of the people they refer to, the county holds already, so that
// merging a batch of new visits looks up neither each visit nor each
// person.
func (m *merger) prefetch(changes []syncproto.Change) error {
	ids := map[records.Kind][]string{}
	refs := map[records.Kind][]string{}
	for i := range changes {
		c := &changes[i]
		k := records.Kind(c.Kind)
		if records.SchemaOf(k) == nil {
			continue
		}
		ids[k] = append(ids[k], c.ID)
		if ref, refKind := records.Reference(k); ref != "" {
			if id := records.TextValue(c.Fields, ref); id != "" {
				refs[refKind] = append(refs[refKind], id)
			}
		}
	}
	for k, list := range ids {
		found, err := m.villages(k, list)
		if err != nil {
			return err
		}
		for _, id := range list {
			if _, ok := found[id]; !ok {
				m.absent[recKey{k, id}] = true
			}
		}
	}
	for k, list := range refs {
		if _, err := m.villages(k, list); err != nil {
			return err
		}
	}
	return nil
}

// villages returns the village of each of the records ids of kind that the
// county holds, and remembers them as present.
func (m *merger) villages(k records.Kind, ids []string) (map[string]string, error) {
	j, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	rows, err := m.tx.Query(`SELECT id, village FROM `+records.SchemaOf(k).Table+` WHERE id IN (`+m.db.jsonValues()+`)`, string(j))
	if err != nil {
		return nil, fmt.Errorf("prefetch %s: %w", k, err)
	}
	defer rows.Close()
	found := map[string]string{}
	for rows.Next() {
		var id, village string
		if err := rows.Scan(&id, &village); err != nil {
			return nil, fmt.Errorf("prefetch %s: %w", k, err)
		}
		found[id] = village
		m.present[placed{recKey{k, id}, village}] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("prefetch %s: %w", k, err)
	}
	return found, nil
}

func (m *merger) close() {
	m.stop.Store(true)
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

// nextFeedSeq takes the next value of the feed counter.
func (m *merger) nextFeedSeq() int64 {
	*m.feedSeq++
	return *m.feedSeq
}

// touchFeed moves a record the merge did not write to the head of its
// village's feed, for every station (save moves the records it writes).
func (m *merger) touchFeed(kind records.Kind, id string) error {
	st, err := m.stmt(kindSQL[kind].touch)
	if err != nil {
		return err
	}
	if _, err := st.Exec(m.nextFeedSeq(), id); err != nil {
		return fmt.Errorf("feed %s %s: %w", kind, id, err)
	}
	return nil
}

func (m *merger) exists(kind records.Kind, id, village string) (bool, error) {
	key := placed{recKey{kind, id}, village}
	if m.present[key] {
		return true, nil
	}
	st, err := m.stmt(kindSQL[kind].exists)
	if err != nil {
		return false, err
	}
	var n int
	if err := st.QueryRow(id, village).Scan(&n); err != nil {
		return false, err
	}
	if n > 0 {
		m.present[key] = true
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
		r.createdBy, r.createdAt, r.createdOrigin, r.base = c.by, c.at, c.origin, uint64(c.hlc)
	}
	station := c.origin != CountyOrigin
	viewOK := (!r.exists && c.rev == 0) || (r.exists && (c.rev == r.rev || (station && r.synced == c.origin)))
	clean := viewOK && !c.clamped

	switch {
	case c.op == records.OpUpsert:
		created := !r.exists
		o, ok, err := m.upsert(s, r, c)
		if err != nil || !ok {
			return o, err
		}
		clean = clean && o.clean
		if created && c.pre != nil && c.pre.vals != nil {
			// A new row holds exactly the change's fields.
			r.vals, r.valsErr = c.pre.vals, c.pre.valsErr
		}
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
				r.setVersion(name, uint64(c.hlc), c.origin)
			}
		}
		r.fields["status"] = records.JSONText(to)
		r.setVersion("status", uint64(c.hlc), c.origin)
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
	var invalid error
	if !r.exists && c.pre != nil {
		invalid = c.pre.valid
	} else {
		invalid = records.Validate(c.kind, c.fields, !r.exists)
	}
	if err := invalid; err != nil {
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
			r.setVersion("status", uint64(c.hlc), c.origin)
		}
	}
	if ref, kind := records.Reference(c.kind); ref != "" {
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
	if r.versions == nil {
		// No field has a version yet (a new record): none can conflict,
		// so the order of the fields does not matter.
		for name, v := range c.fields {
			r.fields[name] = v
			r.setVersion(name, uint64(c.hlc), c.origin)
		}
		return outcome{clean: true}, true, nil
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
			r.setVersion(name, uint64(c.hlc), c.origin)
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

func (m *merger) addConflict(r *row, c *change, field string, winner json.RawMessage, wHLC uint64, wOrigin string, loser json.RawMessage, lHLC uint64, lOrigin string) error {
	st, err := m.stmt(`INSERT INTO conflicts (id, kind, record_id, village, field, winner, winner_hlc, winner_origin, loser, loser_hlc, loser_origin, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	id := fmt.Sprintf("%s.%s.%d.%s", c.origin, c.id, c.hlc, field)
	m.conflicts++
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
