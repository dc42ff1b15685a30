package server

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"stationsync/internal/hlc"
	"stationsync/internal/idcard"
	"stationsync/internal/pii"
	"stationsync/internal/records"
	"stationsync/internal/sqlitedb"
	"stationsync/internal/zone"
	"stationsync/syncproto"
)

// The queries behind the county's pages and exports. Every query takes a
// Scope, the village-code prefix of the staff member asking; it is applied
// in SQL, always, beside whatever filter the page asks for, so a township
// account's pages, exports and record views can only ever read its own
// township's rows.

// Filter selects records of one kind for a list or an export.
type Filter struct {
	Scope    string // village-code prefix the user may see ("" = all); enforced
	Place    string // township (9) or village (12) code the user chose
	Category string // person category, application type or disclosure category
	Status   string
	Risk     string // visits
	From, To string // dates 2006-01-02, inclusive
	Q        string // name search
	Limit    int    // 0: 50; <0: no limit and no count (exports)
	Offset   int
}

// reader returns a read connection for the scans of the county's pages:
// memory-mapped reads and a larger page cache (the pool's connections keep
// both once set), which halve the time of a query that seeks all over a
// million-row index.
func (s *SQLiteStore) reader(ctx context.Context) (*sql.Conn, error) {
	c, err := s.db.R.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := c.ExecContext(ctx, `PRAGMA mmap_size = 1073741824`); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := c.ExecContext(ctx, `PRAGMA cache_size = -32768`); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Row is one record of a list, already turned into text for a page or an
// export cell by cell.
type Row struct {
	ID      string
	Village string
	Cells   []string
}

// Columns returns the column labels of a kind's list.
func Columns(kind records.Kind) []string {
	switch kind {
	case records.Person:
		return []string{"村代码", "姓名", "公民身份号码", "类别", "联系电话", "住址", "状态", "最近走访"}
	case records.Visit:
		return []string{"村代码", "走访对象", "走访时间", "方式", "走访人", "需求", "风险等级", "下次走访日期"}
	case records.Application:
		return []string{"村代码", "申请人", "救助类型", "状态", "申请金额(元)", "批准金额(元)", "起始月份", "更新时间"}
	case records.Disclosure:
		return []string{"村代码", "类别", "标题", "公开开始", "公开截止", "审核人", "状态"}
	}
	return nil
}

// DisclosureStatusLabel is the Chinese name of a disclosure status.
var DisclosureStatusLabel = map[string]string{"draft": "草稿", "published": "已发布", "withdrawn": "已撤回"}

// prefixRange turns a code prefix into a range on the 12-digit village
// column, which the village indexes can use (a LIKE or substr cannot).
func prefixRange(col, prefix string) (string, []any) {
	if prefix == "" {
		return "", nil
	}
	lo := prefix + strings.Repeat("0", max(0, 12-len(prefix)))
	hi := prefix + strings.Repeat("9", max(0, 12-len(prefix)))
	return col + " BETWEEN ? AND ?", []any{lo, hi}
}

type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	if cond != "" {
		w.conds = append(w.conds, cond)
		w.args = append(w.args, args...)
	}
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return "1 = 1"
	}
	return strings.Join(w.conds, " AND ")
}

func validCode(s string) bool {
	return s != "" && len(s) <= 12 && strings.Trim(s, "0123456789") == ""
}

// ErrOutOfScope says a record or place lies outside the user's township.
var ErrOutOfScope = errors.New("outside the user's scope")

func (f *Filter) scopeWhere(w *where, col string) {
	// The scope is applied even when empty strings or bad codes come in:
	// a Scope that is not a code matches nothing.
	if f.Scope != "" {
		if !validCode(f.Scope) {
			w.add("0 = 1")
			return
		}
		c, a := prefixRange(col, f.Scope)
		w.add(c, a...)
	}
	if f.Place != "" {
		if !validCode(f.Place) {
			w.add("0 = 1")
			return
		}
		c, a := prefixRange(col, f.Place)
		w.add(c, a...)
	}
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// riskFlagged is the WHERE term of the partial index visits_flagged
// (migration 0006), which a query must repeat to use it.
const riskFlagged = "v.risk <> '" + records.RiskNormal + "'"

type listSQL struct {
	count, query string
	args         []any
}

func buildList(kind records.Kind, f *Filter) (listSQL, error) {
	w := &where{}
	var from, cols, order string
	switch kind {
	case records.Person:
		from = "persons p"
		f.scopeWhere(w, "p.village")
		if f.Category != "" {
			w.add(`p.categories LIKE ? ESCAPE '\'`, "%"+likeEscape(strconv.Quote(f.Category))+"%")
		}
		if f.Status != "" {
			w.add("p.status = ?", f.Status)
		}
		if f.Q != "" {
			w.add(`p.name LIKE ? ESCAPE '\'`, "%"+likeEscape(f.Q)+"%")
		}
		// The last visit as the overdue list counts it: a blank one is no
		// visit (see overdue).
		cols = `p.id, p.village, p.name, p.id_number, p.categories, p.phone, p.address, p.status, ` + lastVisitSQL("p")
		order = "p.village, p.name, p.id"
	case records.Visit:
		from = "visits v LEFT JOIN persons p ON p.id = v.person_id"
		f.scopeWhere(w, "v.village")
		if f.Risk != "" {
			w.add("v.risk = ?", f.Risk)
			if f.Risk != records.RiskNormal {
				w.add(riskFlagged)
			}
		}
		if f.From != "" {
			w.add("v.visited_on >= ?", f.From)
		}
		if f.To != "" {
			w.add("v.visited_on <= ?", f.To)
		}
		if f.Category != "" {
			w.add(`p.categories LIKE ? ESCAPE '\'`, "%"+likeEscape(strconv.Quote(f.Category))+"%")
		}
		if f.Q != "" {
			w.add(`p.name LIKE ? ESCAPE '\'`, "%"+likeEscape(f.Q)+"%")
		}
		cols = "v.id, v.village, p.name, v.visited_on, v.method, v.visitors, v.needs, v.risk, v.next_due"
		order = "v.visited_on DESC, v.id"
	case records.Application:
		from = "applications a LEFT JOIN persons p ON p.id = a.applicant_id"
		f.scopeWhere(w, "a.village")
		if f.Category != "" {
			w.add("a.type = ?", f.Category)
		}
		if f.Status != "" {
			w.add("a.status = ?", f.Status)
		}
		if f.From != "" {
			if t, err := zone.ParseDate(f.From); err == nil {
				w.add("a.created_at >= ?", t.UnixMilli())
			}
		}
		if f.To != "" {
			if t, err := zone.ParseDate(f.To); err == nil {
				w.add("a.created_at < ?", t.AddDate(0, 0, 1).UnixMilli())
			}
		}
		if f.Q != "" {
			w.add(`p.name LIKE ? ESCAPE '\'`, "%"+likeEscape(f.Q)+"%")
		}
		cols = "a.id, a.village, p.name, a.type, a.status, a.amount_requested_fen, a.approved_amount_fen, a.approved_from, a.updated_at"
		order = "a.updated_at DESC, a.id"
	case records.Disclosure:
		from = "disclosures d"
		f.scopeWhere(w, "d.village")
		if f.Category != "" {
			w.add("d.category = ?", f.Category)
		}
		if f.Status != "" {
			w.add("d.status = ?", f.Status)
		}
		if f.From != "" {
			w.add("d.publish_from >= ?", f.From)
		}
		if f.To != "" {
			w.add("d.publish_from <= ?", f.To)
		}
		if f.Q != "" {
			w.add(`d.title LIKE ? ESCAPE '\'`, "%"+likeEscape(f.Q)+"%")
		}
		cols = "d.id, d.village, d.category, d.title, d.publish_from, d.publish_until, d.reviewer, d.status"
		order = "d.publish_from DESC, d.id"
	default:
		return listSQL{}, fmt.Errorf("unknown kind %q", kind)
	}
	ws := w.sql()
	q := "SELECT " + cols + " FROM " + from + " WHERE " + ws + " ORDER BY " + order
	cnt := "SELECT count(*) FROM " + from + " WHERE " + ws
	if kind == records.Person || kind == records.Disclosure || (f.Q == "" && f.Category == "") {
		// The join only serves name and category filters.
		base := strings.SplitN(from, " LEFT JOIN", 2)[0]
		cnt = "SELECT count(*) FROM " + base + " WHERE " + ws
	}
	return listSQL{count: cnt, query: q, args: w.args}, nil
}

// List returns the rows of kind that f selects, one page (or, with
// f.Limit < 0, all of them streamed to fn without being held), and the
// total number that match (0 when streaming). With mask, ID and phone
// numbers are masked.
func (s *SQLiteStore) List(ctx context.Context, kind records.Kind, f Filter, mask bool, fn func(Row) error) (int, error) {
	ls, err := buildList(kind, &f)
	if err != nil {
		return 0, err
	}
	conn, err := s.reader(ctx)
	if err != nil {
		return 0, fmt.Errorf("list %s: %w", kind, err)
	}
	defer conn.Close()
	if f.Limit == 0 {
		f.Limit = 50
	}
	total, err := pagedRows(ctx, conn, ls.query, ls.count, ls.args, f.Limit, f.Offset, len(Columns(kind))+1, func(r Row) error {
		formatCells(kind, r.Cells, mask)
		return fn(r)
	})
	if err != nil {
		return 0, fmt.Errorf("list %s: %w", kind, err)
	}
	return total, nil
}

// pagedRows runs q and hands fn each row as a Row of n columns: the id,
// the village, then the cells. With limit ≥ 0 it first counts the rows
// with count and returns one page of q; with limit < 0 it streams all rows
// and returns 0.
func pagedRows(ctx context.Context, conn *sql.Conn, q, count string, args []any, limit, offset, n int, fn func(Row) error) (int, error) {
	total := 0
	if limit >= 0 {
		if err := conn.QueryRowContext(ctx, count, args...).Scan(&total); err != nil {
			return 0, fmt.Errorf("count: %w", err)
		}
		q += " LIMIT ? OFFSET ?"
		args = append(append([]any{}, args...), limit, offset)
	}
	rows, err := conn.QueryContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	vals := make([]sql.NullString, n)
	ptrs := make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return 0, err
		}
		r := Row{ID: vals[0].String, Village: vals[1].String, Cells: make([]string, n-1)}
		for i := 1; i < n; i++ {
			r.Cells[i-1] = vals[i].String
		}
		if err := fn(r); err != nil {
			return 0, err
		}
	}
	return total, rows.Err()
}

// formatCells turns stored values into what staff read: labels, lists
// joined, money in yuan, masked numbers.
func formatCells(kind records.Kind, c []string, mask bool) {
	switch kind {
	case records.Person:
		if mask {
			c[2] = idcard.Mask(c[2])
			c[4] = maskPhone(c[4])
			c[5] = pii.MaskText(c[5])
		}
		c[3] = joinList(c[3])
	case records.Visit:
		c[4] = joinList(c[4])
		c[5] = joinList(c[5])
	case records.Application:
		c[3] = statusLabel(c[3])
		c[4] = fenText(c[4])
		c[5] = fenText(c[5])
		c[7] = msText(c[7])
	case records.Disclosure:
		if mask {
			// Title and reviewer are free text, and cadres write names
			// and numbers into them ("关于王秀英（3401…）的公示").
			c[2], c[5] = pii.MaskText(c[2]), pii.MaskText(c[5])
		}
		if l, ok := DisclosureStatusLabel[c[6]]; ok {
			c[6] = l
		}
	}
}

func maskPhone(s string) string {
	if s == "" {
		return ""
	}
	return idcard.MaskPhone(s)
}

func statusLabel(s string) string {
	if l, ok := records.StatusLabel[s]; ok {
		return l
	}
	return s
}

func joinList(s string) string {
	if s == "" {
		return ""
	}
	var list []string
	if json.Unmarshal([]byte(s), &list) != nil {
		return s
	}
	return strings.Join(list, "、")
}

func fenText(s string) string {
	if s == "" {
		return ""
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return s
	}
	return formatFen(n)
}

func msText(s string) string {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n == 0 {
		return s
	}
	return zone.MinuteMs(n)
}

// FieldVersion is the current value of one field and where it came from.
type FieldVersion struct {
	Name, Label string
	Value       json.RawMessage
	Origin      string // station id or CountyOrigin
	At          time.Time
}

// RecordDetail is everything the county knows of one record.
type RecordDetail struct {
	syncproto.Record
	Fields        []FieldVersion
	CreatedOrigin string
	ReceivedAt    time.Time
	AllConflicts  []ConflictRow // resolved ones too
}

// Record returns one record, or ErrNotFound when it does not exist or lies
// outside scope: a township account cannot tell another township's record
// from a missing one.
func (s *SQLiteStore) Record(ctx context.Context, kind records.Kind, id, scope string) (*RecordDetail, error) {
	sch := records.SchemaOf(kind)
	if sch == nil {
		return nil, ErrNotFound
	}
	rec, err := loadRecord(ctx, s.db.R, kind, id)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(rec.Village, scope) {
		return nil, ErrNotFound
	}
	d := &RecordDetail{Record: *rec}
	var origins string
	var received int64
	err = s.db.R.QueryRowContext(ctx, `SELECT origins, created_origin, received_at FROM `+sch.Table+` WHERE id = ?`, id).Scan(&origins, &d.CreatedOrigin, &received)
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", id, err)
	}
	d.ReceivedAt = time.UnixMilli(received)
	om := map[string]string{}
	json.Unmarshal([]byte(origins), &om)
	for _, f := range sch.Fields {
		v, ok := rec.Fields[f.Name]
		if !ok {
			continue
		}
		o := om[f.Name]
		if o == "" {
			o = d.CreatedOrigin
		}
		d.Fields = append(d.Fields, FieldVersion{Name: f.Name, Label: f.Label, Value: v, Origin: o, At: hlc.Timestamp(rec.Versions[f.Name]).Time()})
	}
	ids, err := sqlitedb.Column[string](ctx, s.db.R, `SELECT id FROM conflicts WHERE kind = ? AND record_id = ? ORDER BY at, id`, string(kind), id)
	if err != nil {
		return nil, fmt.Errorf("record conflicts: %w", err)
	}
	for _, cid := range ids {
		c, err := s.ConflictByID(ctx, cid)
		if err != nil {
			return nil, err
		}
		d.AllConflicts = append(d.AllConflicts, *c)
	}
	return d, nil
}

// RelatedVisits returns the latest visits of a person.
func (s *SQLiteStore) RelatedVisits(ctx context.Context, personID string, limit int) ([]Row, error) {
	var out []Row
	rows, err := s.db.R.QueryContext(ctx, `SELECT id, village, visited_on, method, risk, situation FROM visits WHERE person_id = ? ORDER BY visited_on DESC LIMIT ?`, personID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var r Row
		var a, b, c, d sql.NullString
		if err := rows.Scan(&r.ID, &r.Village, &a, &b, &c, &d); err != nil {
			return nil, err
		}
		r.Cells = []string{a.String, b.String, c.String, d.String}
		out = append(out, r)
	}
	return out, rows.Err()
}

// OpenConflicts lists unresolved conflicts in scope.
func (s *SQLiteStore) OpenConflicts(ctx context.Context, scope string, limit, offset int) ([]ConflictRow, int, error) {
	w := &where{}
	w.add("resolved_at IS NULL")
	f := Filter{Scope: scope}
	f.scopeWhere(w, "village")
	var total int
	if err := s.db.R.QueryRowContext(ctx, `SELECT count(*) FROM conflicts WHERE `+w.sql(), w.args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	ids, err := sqlitedb.Column[string](ctx, s.db.R, `SELECT id FROM conflicts WHERE `+w.sql()+` ORDER BY at DESC, id LIMIT ? OFFSET ?`, append(w.args, limit, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("conflicts: %w", err)
	}
	var out []ConflictRow
	for _, id := range ids {
		c, err := s.ConflictByID(ctx, id)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *c)
	}
	return out, total, nil
}

// ---- Places and settings ----

// PlaceNames returns the known names of townships and villages.
func (s *SQLiteStore) PlaceNames(ctx context.Context) (map[string]string, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT code, name FROM places`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var c, n string
		if err := rows.Scan(&c, &n); err != nil {
			return nil, err
		}
		out[c] = n
	}
	return out, rows.Err()
}

// SetPlaceName names the county (6 digits), a township (9) or a village
// (12). The county's name goes to each station as it enrols, for the
// person who confirms it is their county.
func (s *SQLiteStore) SetPlaceName(ctx context.Context, code, name string) error {
	if len(code) != 6 && len(code) != 9 && len(code) != 12 || !validCode(code) {
		return ErrBadVillage
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO places (code, name) VALUES (?, ?) ON CONFLICT(code) DO UPDATE SET name = excluded.name`, code, strings.TrimSpace(name))
		return err
	})
}

// Villages returns every village code the county has heard of (stations
// and records), within scope.
func (s *SQLiteStore) Villages(ctx context.Context, scope string) ([]string, error) {
	w := &where{}
	f := Filter{Scope: scope}
	f.scopeWhere(w, "village")
	out, err := sqlitedb.Column[string](ctx, s.db.R, `SELECT village FROM stations WHERE `+w.sql()+` UNION SELECT DISTINCT village FROM persons WHERE `+w.sql()+` UNION SELECT code FROM places WHERE length(code) = 12 AND `+strings.ReplaceAll(w.sql(), "village", "code"),
		append(append(append([]any{}, w.args...), w.args...), w.args...)...)
	if err != nil {
		return nil, err
	}
	sort.Strings(out)
	return out, nil
}

// Setting reads a JSON setting into v; a missing one leaves v as is.
func (s *SQLiteStore) Setting(ctx context.Context, key string, v any) error {
	var raw string
	err := s.db.R.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(raw), v)
}

// SetSetting writes a JSON setting.
func (s *SQLiteStore) SetSetting(ctx context.Context, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, string(raw))
		return err
	})
}

// ---- Follow-up ----

// VisitPolicy is the number of days between visits per person category;
// a person is due after the shortest interval of their categories.
type VisitPolicy struct {
	Days        map[string]int `json:"days"`
	DefaultDays int            `json:"default_days"`
	ReviewMonth int            `json:"review_months"` // 应退即退: approvals older than this are due for review
}

// DefaultVisitPolicy is DOMAIN.md's sensible default.
func DefaultVisitPolicy() VisitPolicy {
	return VisitPolicy{Days: map[string]int{"农村留守老年人": 30, "困境儿童": 30, "特困人员": 30}, DefaultDays: 90, ReviewMonth: 12}
}

// Policy returns the configured visit policy.
func (s *SQLiteStore) Policy(ctx context.Context) VisitPolicy {
	p := DefaultVisitPolicy()
	s.Setting(ctx, "visit_policy", &p)
	if p.DefaultDays <= 0 {
		p.DefaultDays = 90
	}
	if p.ReviewMonth <= 0 {
		p.ReviewMonth = 12
	}
	return p
}

// FollowUpKind names a follow-up list.
type FollowUpKind string

// The follow-up lists.
const (
	FollowOverdue FollowUpKind = "overdue" // people past their visit interval
	FollowUrgent  FollowUpKind = "urgent"  // 紧急 visits with no later visit
	FollowReview  FollowUpKind = "review"  // recipients due for periodic review
)

// FollowUpColumns are the labels of a follow-up list.
func FollowUpColumns(k FollowUpKind) []string {
	switch k {
	case FollowOverdue:
		return []string{"村代码", "姓名", "类别", "最近走访", "应走访日期", "逾期天数"}
	case FollowUrgent:
		return []string{"村代码", "姓名", "走访时间", "需求", "帮扶措施", "已过天数"}
	default:
		return []string{"村代码", "申请人", "救助类型", "批准金额(元)", "起始月份", "已享受月数"}
	}
}

// FollowUp lists one follow-up list within scope (and place), one page or
// (limit < 0) all rows streamed.
func (s *SQLiteStore) FollowUp(ctx context.Context, k FollowUpKind, scope, place string, today time.Time, limit, offset int, mask bool, fn func(Row) error) (int, error) {
	w := &where{}
	f := Filter{Scope: scope, Place: place}
	var q, cnt string
	var args []any
	day := today.Format("2006-01-02")
	switch k {
	case FollowOverdue:
		return s.overdue(ctx, w, f, today, limit, offset, fn)
	case FollowUrgent:
		f.scopeWhere(w, "v.village")
		w.add("v.risk = '紧急'")
		w.add(riskFlagged)
		w.add("coalesce(v.void_reason, '') = ''") // voided: recorded in error
		// Followed up by a later visit with content: a blank one proves
		// nothing (see overdue).
		w.add("NOT " + laterVisitSQL("v"))
		sel := `SELECT v.id, v.village, p.name, v.visited_on, v.needs, v.measures, CAST(julianday(?) - julianday(v.visited_on) AS INTEGER)
			FROM visits v LEFT JOIN persons p ON p.id = v.person_id WHERE ` + w.sql()
		args = append([]any{day}, w.args...)
		q = sel + ` ORDER BY v.visited_on, v.id`
		cnt = `SELECT count(*) FROM (` + sel + `)`
	case FollowReview:
		p := s.Policy(ctx)
		f.scopeWhere(w, "a.village")
		w.add("a.status = 'approved'")
		w.add("a.approved_from <= ?", today.AddDate(0, -p.ReviewMonth, 0).Format("2006-01"))
		sel := `SELECT a.id, a.village, p.name, a.type, a.approved_amount_fen, a.approved_from,
			(CAST(strftime('%Y', ?) AS INTEGER) - CAST(substr(a.approved_from, 1, 4) AS INTEGER)) * 12 + CAST(strftime('%m', ?) AS INTEGER) - CAST(substr(a.approved_from, 6, 2) AS INTEGER)
			FROM applications a LEFT JOIN persons p ON p.id = a.applicant_id WHERE ` + w.sql()
		args = append([]any{day, day}, w.args...)
		q = sel + ` ORDER BY a.approved_from, a.id`
		cnt = `SELECT count(*) FROM (` + sel + `)`
	default:
		return 0, ErrNotFound
	}
	conn, err := s.reader(ctx)
	if err != nil {
		return 0, fmt.Errorf("follow-up %s: %w", k, err)
	}
	defer conn.Close()
	total, err := pagedRows(ctx, conn, q, cnt, args, limit, offset, len(FollowUpColumns(k))+1, func(r Row) error {
		switch k {
		case FollowUrgent:
			r.Cells[3] = joinList(r.Cells[3])
			if mask {
				r.Cells[4] = pii.MaskText(r.Cells[4])
			}
		case FollowReview:
			r.Cells[3] = fenText(r.Cells[3])
		}
		return fn(r)
	})
	if err != nil {
		return 0, fmt.Errorf("follow-up %s: %w", k, err)
	}
	return total, nil
}

// ---- Reports ----

// Count is one figure of a report, by a key or two.
type Count struct {
	Key, Sub string
	N        int
}

func (s *SQLiteStore) counts(ctx context.Context, q string, args ...any) ([]Count, error) {
	conn, err := s.reader(ctx)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	defer conn.Close()
	rows, err := conn.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	defer rows.Close()
	var out []Count
	for rows.Next() {
		var c Count
		var k, sub sql.NullString
		if err := rows.Scan(&k, &sub, &c.N); err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
		c.Key, c.Sub = k.String, sub.String
		out = append(out, c)
	}
	return out, rows.Err()
}

// VisitsByMonth counts visits per township (Key) and month (Sub) from
// month from (2006-01) on.
func (s *SQLiteStore) VisitsByMonth(ctx context.Context, scope, from string) ([]Count, error) {
	w := &where{}
	w.add("visited_on >= ?", from) // "2006-01-02" >= "2006-01"
	f := Filter{Scope: scope}
	f.scopeWhere(w, "village")
	// The inner query counts by day and village in the order of the index
	// visits_day, without sorting; only its few hundred thousand groups
	// are sorted into months and townships, not every visit. Voided and
	// blank visits are no visits: they are counted again, from the small
	// partial index visits_blank, and taken off.
	wb := &where{}
	wb.add(visitIsBlank("b"))
	wb.add("b.visited_on >= ?", from)
	f.scopeWhere(wb, "b.village")
	return s.counts(ctx, `SELECT town, month, sum(n) FROM (
		SELECT substr(village, 1, 9) AS town, substr(visited_on, 1, 7) AS month, count(*) AS n
		FROM visits WHERE `+w.sql()+` GROUP BY visited_on, village
		UNION ALL
		SELECT substr(b.village, 1, 9), substr(b.visited_on, 1, 7), -count(*)
		FROM visits b INDEXED BY visits_blank WHERE `+wb.sql()+` GROUP BY 1, 2)
		GROUP BY month, town HAVING sum(n) > 0`, append(w.args, wb.args...)...)
}

// Coverage returns, per township, the people on the register (Sub "all")
// and those visited since from (Sub "visited").
func (s *SQLiteStore) Coverage(ctx context.Context, scope, from string) ([]Count, error) {
	w := &where{}
	f := Filter{Scope: scope}
	f.scopeWhere(w, "village")
	all, err := s.counts(ctx, `SELECT substr(village, 1, 9), 'all', count(*) FROM persons WHERE (status IS NULL OR status = '在册') AND `+w.sql()+` GROUP BY 1`, w.args...)
	if err != nil {
		return nil, err
	}
	// Of those, the ones visited since from: their last visit with
	// content, from visits_person unless they have a blank one.
	w2 := &where{}
	w2.add("(p.status IS NULL OR p.status = '在册')")
	f.scopeWhere(w2, "p.village")
	w2.add(lastVisitSQL("p")+" >= ?", from) // a voided or blank visit is none
	vis, err := s.counts(ctx, `SELECT substr(p.village, 1, 9), 'visited', count(*) FROM persons p WHERE `+w2.sql()+` GROUP BY 1`, w2.args...)
	if err != nil {
		return nil, err
	}
	return append(all, vis...), nil
}

// ApplicationsByTypeStatus counts applications per type and status.
func (s *SQLiteStore) ApplicationsByTypeStatus(ctx context.Context, scope string) ([]Count, error) {
	w := &where{}
	f := Filter{Scope: scope}
	f.scopeWhere(w, "village")
	return s.counts(ctx, `SELECT type, status, count(*) FROM applications WHERE `+w.sql()+` GROUP BY 1, 2 ORDER BY 1, 2`, w.args...)
}

// ApplicationsByMonth counts applications per month of creation (Key) and
// status (Sub) since from (unix ms).
func (s *SQLiteStore) ApplicationsByMonth(ctx context.Context, scope string, from time.Time) ([]Count, error) {
	w := &where{}
	w.add("created_at >= ?", from.UnixMilli())
	f := Filter{Scope: scope}
	f.scopeWhere(w, "village")
	// The month in the display zone, not SQLite's 'localtime' (the
	// server's): its offset at from (Asia/Shanghai has one all year).
	return s.counts(ctx, `SELECT strftime('%Y-%m', created_at / 1000 + ?, 'unixepoch'), status, count(*) FROM applications WHERE `+w.sql()+` GROUP BY 1, 2 ORDER BY 1, 2`,
		append([]any{zone.Offset(from)}, w.args...)...)
}

// HealthDay is one day of the stations' sync health.
type HealthDay struct {
	Day                                     string
	Stations, Synced1d, Synced7d, Silent, N int
	Pending                                 int
}

// SnapshotHealth records today's sync health of the stations (once per
// day; later calls the same day overwrite it).
func (s *SQLiteStore) SnapshotHealth(ctx context.Context, silentAfter time.Duration) error {
	now := s.now()
	var h HealthDay
	err := s.db.R.QueryRowContext(ctx, `SELECT count(*),
		coalesce(sum(last_push_at >= ?), 0), coalesce(sum(last_push_at >= ?), 0),
		coalesce(sum(coalesce(last_contact_at, 0) < ?), 0), coalesce(sum(pending), 0)
		FROM stations WHERE revoked_at IS NULL`,
		now.Add(-24*time.Hour).UnixMilli(), now.Add(-7*24*time.Hour).UnixMilli(), now.Add(-silentAfter).UnixMilli()).
		Scan(&h.Stations, &h.Synced1d, &h.Synced7d, &h.Silent, &h.Pending)
	if err != nil {
		return fmt.Errorf("health snapshot: %w", err)
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO station_health_daily (day, stations, synced_1d, synced_7d, silent, pending) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT(day) DO UPDATE SET stations = excluded.stations, synced_1d = excluded.synced_1d, synced_7d = excluded.synced_7d, silent = excluded.silent, pending = excluded.pending`,
			zone.Today(now), h.Stations, h.Synced1d, h.Synced7d, h.Silent, h.Pending)
		return err
	})
}

// HealthHistory returns the daily snapshots since from.
func (s *SQLiteStore) HealthHistory(ctx context.Context, from time.Time) ([]HealthDay, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT day, stations, synced_1d, synced_7d, silent, pending FROM station_health_daily WHERE day >= ? ORDER BY day`, from.Format("2006-01-02"))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []HealthDay
	for rows.Next() {
		var h HealthDay
		if err := rows.Scan(&h.Day, &h.Stations, &h.Synced1d, &h.Synced7d, &h.Silent, &h.Pending); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// ---- Public portal ----

// PublicDisclosure is a published disclosure within its window.
type PublicDisclosure struct {
	ID, Village, Category, Title, Body, From, Until, Reviewer string
	// PublicNumbers are the mobile numbers its publisher marked as the
	// notice's contact (records.PublicNumbers), as JSON.
	PublicNumbers json.RawMessage
}

// PublicDisclosures returns the disclosures published and within their
// window on day, of one village or (village "") all.
func (s *SQLiteStore) PublicDisclosures(ctx context.Context, village, id, day string) ([]PublicDisclosure, error) {
	w := &where{}
	w.add("status = 'published'")
	w.add("(publish_from IS NULL OR publish_from = '' OR publish_from <= ?)", day)
	w.add("(publish_until IS NULL OR publish_until = '' OR publish_until >= ?)", day)
	if village != "" {
		w.add("village = ?", village)
	}
	if id != "" {
		w.add("id = ?", id)
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT id, village, coalesce(category, ''), coalesce(title, ''), coalesce(body, ''), coalesce(publish_from, ''), coalesce(publish_until, ''), coalesce(reviewer, ''), coalesce(public_numbers, '[]')
		FROM disclosures WHERE `+w.sql()+` ORDER BY village, publish_from DESC, id LIMIT 500`, w.args...)
	if err != nil {
		return nil, fmt.Errorf("public disclosures: %w", err)
	}
	defer rows.Close()
	var out []PublicDisclosure
	for rows.Next() {
		var d PublicDisclosure
		var public string
		if err := rows.Scan(&d.ID, &d.Village, &d.Category, &d.Title, &d.Body, &d.From, &d.Until, &d.Reviewer, &public); err != nil {
			return nil, err
		}
		d.PublicNumbers = json.RawMessage(public)
		out = append(out, d)
	}
	return out, rows.Err()
}

// ApplicationBrief is what the disclosure of an approval needs.
type ApplicationBrief struct {
	ID, Village, Type, Status, ApplicantName, ApplicantIDNumber, ApprovedFrom string
	ApprovedFen                                                               int64
}

// Application returns the brief of an application within scope.
func (s *SQLiteStore) Application(ctx context.Context, id, scope string) (*ApplicationBrief, error) {
	var a ApplicationBrief
	var name, idn, from, typ, status sql.NullString
	var fen sql.NullInt64
	err := s.db.R.QueryRowContext(ctx, `SELECT a.id, a.village, a.type, a.status, p.name, p.id_number, a.approved_amount_fen, a.approved_from
		FROM applications a LEFT JOIN persons p ON p.id = a.applicant_id WHERE a.id = ?`, id).Scan(&a.ID, &a.Village, &typ, &status, &name, &idn, &fen, &from)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(a.Village, scope) {
		return nil, ErrNotFound
	}
	a.Type, a.Status, a.ApplicantName, a.ApplicantIDNumber, a.ApprovedFrom, a.ApprovedFen = typ.String, status.String, name.String, idn.String, from.String, fen.Int64
	return &a, nil
}

// StationsIn returns the stations within scope.
func (s *SQLiteStore) StationsIn(ctx context.Context, scope string) ([]Station, error) {
	all, err := s.Stations(ctx)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, st := range all {
		if strings.HasPrefix(st.Village, scope) {
			out = append(out, st)
		}
	}
	return out, nil
}

// LastErrors returns, per station, the newer of the last sync failure the
// station reported with a pull and the last rejection the merge gave it.
func (s *SQLiteStore) LastErrors(ctx context.Context) (map[string]string, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT station, reason, max(at) FROM (
		SELECT station, reason, at FROM rejected_changes
		UNION ALL SELECT id, last_error, last_error_at FROM stations WHERE last_error != '' AND last_error_at IS NOT NULL)
		GROUP BY station`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var st, reason string
		var at int64
		if err := rows.Scan(&st, &reason, &at); err != nil {
			return nil, err
		}
		out[st] = zone.In(time.UnixMilli(at)).Format("01-02 15:04") + " " + reason
	}
	return out, rows.Err()
}

// DataVersion changes whenever any record changes: every merged change,
// decision, edit and resolution moves its record to a new feed seq. Pages
// cache aggregates under it.
func (s *SQLiteStore) DataVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.db.R.QueryRowContext(ctx, feedTopSQL).Scan(&v)
	return v, err
}

// resultCache keeps the few most recent follow-up lists, which take a pass
// over every person of the scope to compute and change only when records
// do (the key holds DataVersion and the policy).
type resultCache struct {
	mu    sync.Mutex
	order []string
	rows  map[string][]Row
}

var followCache = &resultCache{rows: map[string][]Row{}}

const followCacheN = 16

func (c *resultCache) get(key string) ([]Row, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.rows[key]
	return r, ok
}

func (c *resultCache) put(key string, rows []Row) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.rows[key]; ok {
		return
	}
	c.order = append(c.order, key)
	c.rows[key] = rows
	for len(c.order) > followCacheN {
		delete(c.rows, c.order[0])
		c.order = c.order[1:]
	}
}

// FollowUpPage is FollowUp for one page, served from a cache of the whole
// list while no record changed.
func (s *SQLiteStore) FollowUpPage(ctx context.Context, k FollowUpKind, scope, place string, today time.Time, limit, offset int, mask bool) ([]Row, int, error) {
	v, err := s.DataVersion(ctx)
	if err != nil {
		return nil, 0, err
	}
	pol, _ := json.Marshal(s.Policy(ctx))
	// Only the urgent list has free text to mask.
	key := fmt.Sprintf("%p|%s|%s|%s|%s|%d|%s|%v", s, k, scope, place, today.Format("2006-01-02"), v, pol, mask && k == FollowUrgent)
	all, ok := followCache.get(key)
	if !ok {
		all = []Row{}
		if _, err := s.FollowUp(ctx, k, scope, place, today, -1, 0, mask, func(r Row) error {
			all = append(all, r)
			return nil
		}); err != nil {
			return nil, 0, err
		}
		followCache.put(key, all)
	}
	lo := min(offset, len(all))
	hi := min(offset+limit, len(all))
	return all[lo:hi], len(all), nil
}

// PlaceCount is how many rows of a list fall in one township or village.
type PlaceCount struct {
	Code string
	N    int
}

// FollowUpSummary counts a follow-up list per township (or, for a
// township's staff or a township filter, per village), from the same cache
// as FollowUpPage.
func (s *SQLiteStore) FollowUpSummary(ctx context.Context, k FollowUpKind, scope, place string, today time.Time, mask bool) ([]PlaceCount, error) {
	rows, _, err := s.FollowUpPage(ctx, k, scope, place, today, math.MaxInt32, 0, mask)
	if err != nil {
		return nil, err
	}
	n := 9
	if len(scope) >= 9 || len(place) >= 9 {
		n = 12
	}
	by := map[string]int{}
	for _, r := range rows {
		by[r.Village[:min(n, len(r.Village))]]++
	}
	out := make([]PlaceCount, 0, len(by))
	for c, v := range by {
		out = append(out, PlaceCount{c, v})
	}
	slices.SortFunc(out, func(a, b PlaceCount) int { return strings.Compare(a.Code, b.Code) })
	return out, nil
}

// RecordVersion is one stored version of a record (record_versions).
type RecordVersion struct {
	Rev        int64
	Fields     map[string]json.RawMessage
	Origins    map[string]string // per field, expanded
	UpdatedBy  string
	UpdatedAt  time.Time
	ReceivedAt time.Time
}

// Versions returns the stored versions of a record, oldest first. A record
// never changed after its creation has none: its row is its only version.
func (s *SQLiteStore) Versions(ctx context.Context, kind records.Kind, id string) ([]RecordVersion, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT rev, fields, origins, created_origin, updated_by, updated_at, received_at FROM record_versions WHERE kind = ? AND record_id = ? ORDER BY rev`, string(kind), id)
	if err != nil {
		return nil, fmt.Errorf("versions %s: %w", id, err)
	}
	defer rows.Close()
	var out []RecordVersion
	for rows.Next() {
		var v RecordVersion
		var fields, origins, created string
		var at, recv int64
		if err := rows.Scan(&v.Rev, &fields, &origins, &created, &v.UpdatedBy, &at, &recv); err != nil {
			return nil, fmt.Errorf("versions %s: %w", id, err)
		}
		v.UpdatedAt, v.ReceivedAt = time.UnixMilli(at), time.UnixMilli(recv)
		raw := map[string]json.RawMessage{}
		json.Unmarshal([]byte(fields), &raw)
		v.Fields = map[string]json.RawMessage{}
		sch := records.SchemaOf(kind)
		for name, val := range raw {
			if string(val) == "null" {
				continue
			}
			// Text columns come back as JSON strings, JSON columns as
			// JSON, integers as numbers: the form of Fields.
			v.Fields[name] = val
			if f, ok := sch.Field(name); ok && f.Type == records.Int {
				v.Fields[name] = json.RawMessage(strings.Trim(string(val), `"`))
			}
		}
		om := map[string]string{}
		json.Unmarshal([]byte(origins), &om)
		v.Origins = map[string]string{}
		for name := range v.Fields {
			v.Origins[name] = created
			if o := om[name]; o != "" {
				v.Origins[name] = o
			}
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// overdue lists the people past their visit interval. SQL finds them by
// comparing each person's last visit with a cutoff date computed here per
// interval; due dates, days overdue and the order are computed in Go for
// the few that are due, which is far cheaper than date arithmetic in SQL
// on every person of the county.
func (s *SQLiteStore) overdue(ctx context.Context, w *where, f Filter, today time.Time, limit, offset int, fn func(Row) error) (int, error) {
	p := s.Policy(ctx)
	cats := make([]string, 0, len(p.Days))
	for c := range p.Days {
		cats = append(cats, c)
	}
	// The interval of a person is the shortest of their categories'.
	sort.Slice(cats, func(i, j int) bool {
		return p.Days[cats[i]] < p.Days[cats[j]] || p.Days[cats[i]] == p.Days[cats[j]] && cats[i] < cats[j]
	})
	day := func(d int) string { return today.AddDate(0, 0, -d).Format("2006-01-02") }
	var cases []string
	var args []any
	for _, c := range cats {
		cases = append(cases, `WHEN p.categories LIKE ? ESCAPE '\' THEN ?`)
		args = append(args, "%"+likeEscape(strconv.Quote(c))+"%", p.Days[c])
	}
	interval := "?"
	if len(cases) > 0 {
		interval = "CASE " + strings.Join(cases, " ") + " ELSE ? END"
	}
	args = append(args, p.DefaultDays)
	w.add("(p.status IS NULL OR p.status = '在册')")
	f.scopeWhere(w, "p.village")
	args = append(args, w.args...)
	// The cutoff of each interval: overdue when the last visit (or, never
	// visited, the registration) is before it.
	var cutCases []string
	var cutArgs []any
	for _, d := range slices.Sorted(maps.Keys(invert(p.Days))) {
		cutCases = append(cutCases, "WHEN ? THEN ?")
		cutArgs = append(cutArgs, d, day(d))
	}
	cut := "CASE days " + strings.Join(cutCases, " ") + " ELSE ? END"
	cutArgs = append(cutArgs, day(p.DefaultDays))
	// The last visit is the latest one with content: a visit saved from an
	// untouched form (no situation, no measures; older stations allowed
	// it) is no evidence that anyone went, and must not take a person off
	// this list (lastVisitSQL). A never-visited person counts from the day
	// of registration in the display zone.
	q := `SELECT id, village, name, categories, last, created_at, days FROM (
		SELECT p.id, p.village, p.name, p.categories, p.created_at, ` + lastVisitSQL("p") + ` AS last,
			` + interval + ` AS days FROM persons p WHERE ` + w.sql() + `)
		WHERE coalesce(last, date(created_at / 1000 + ?, 'unixepoch')) < ` + cut
	conn, err := s.reader(ctx)
	if err != nil {
		return 0, fmt.Errorf("follow-up overdue: %w", err)
	}
	defer conn.Close()
	args = append(args, zone.Offset(today))
	rows, err := conn.QueryContext(ctx, q, append(args, cutArgs...)...)
	if err != nil {
		return 0, fmt.Errorf("follow-up overdue: %w", err)
	}
	type due struct {
		row Row
		due string
	}
	var list []due
	for rows.Next() {
		var id, village string
		var name, cats, last sql.NullString
		var created int64
		var days int
		if err := rows.Scan(&id, &village, &name, &cats, &last, &created, &days); err != nil {
			rows.Close()
			return 0, fmt.Errorf("follow-up overdue: %w", err)
		}
		from, err := time.ParseInLocation("2006-01-02", last.String, today.Location())
		lastText := last.String
		if !last.Valid || err != nil {
			from = time.UnixMilli(created).In(today.Location())
			from = time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, today.Location())
			lastText = "从未走访"
		}
		d := from.AddDate(0, 0, days)
		t0 := time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, today.Location())
		late := int(t0.Sub(d).Hours() / 24)
		list = append(list, due{row: Row{ID: id, Village: village, Cells: []string{village, name.String, joinList(cats.String), lastText, d.Format("2006-01-02"), strconv.Itoa(late)}}, due: d.Format("2006-01-02")})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("follow-up overdue: %w", err)
	}
	slices.SortFunc(list, func(a, b due) int {
		return cmp.Or(strings.Compare(a.due, b.due), strings.Compare(a.row.Village, b.row.Village), strings.Compare(a.row.ID, b.row.ID))
	})
	total := len(list)
	if limit >= 0 {
		list = list[min(offset, len(list)):min(offset+limit, len(list))]
	} else {
		total = 0
	}
	for _, d := range list {
		if err := fn(d.row); err != nil {
			return 0, err
		}
	}
	return total, nil
}

// visitHasContent is the SQL test, on the visits alias a, of a visit that
// records something: a situation or measures that are not blank. The
// station refuses new visits without a situation (records.CheckEntry); this
// keeps the blank ones older stations saved from counting as visits.
func visitHasContent(a string) string {
	return "(trim(coalesce(" + a + ".situation, ''), " + blankChars + ") <> '' OR trim(coalesce(" + a + ".measures, ''), " + blankChars + ") <> '') AND coalesce(" + a + ".void_reason, '') = ''"
}

// blankChars are what trim takes off: spaces, tabs, newlines and the
// full-width space.
const blankChars = "char(32, 9, 10, 13, 12288)"

// visitIsBlank is the WHERE of the partial index visits_blank (migration
// 0009), term for term, on the visits alias a: SQLite uses the index only
// when a query repeats it. A voided visit counts as blank: it proves no
// visit took place.
func visitIsBlank(a string) string {
	return "((trim(coalesce(" + a + ".situation, ''), " + blankChars + ") = '' AND trim(coalesce(" + a + ".measures, ''), " + blankChars + ") = '') OR coalesce(" + a + ".void_reason, '') <> '')"
}

// lastVisitSQL is the date of the last visit with content of the person
// alias p. A person without a blank visit, nearly everyone, takes the
// newest date from the covering index visits_person, as before blank
// visits were told apart; only a person the small index visits_blank
// names reads visit rows to skip the blank ones. (Reading rows for every
// person tripled the county-wide overdue list's time, 280 to 900 ms, at
// 100,000 persons and a million visits.)
// laterVisitSQL is true when the person of the visit alias v has a later
// visit with content; read like lastVisitSQL, from the covering index
// unless a later visit is blank.
func laterVisitSQL(v string) string {
	later := "x.person_id = " + v + ".person_id AND x.visited_on > " + v + ".visited_on"
	return `(CASE WHEN EXISTS (SELECT 1 FROM visits b WHERE b.person_id = ` + v + `.person_id AND b.visited_on > ` + v + `.visited_on AND ` + visitIsBlank("b") + `)
		THEN EXISTS (SELECT 1 FROM visits x WHERE ` + later + ` AND ` + visitHasContent("x") + `)
		ELSE EXISTS (SELECT 1 FROM visits x WHERE ` + later + `) END)`
}

func lastVisitSQL(p string) string {
	return `(CASE WHEN EXISTS (SELECT 1 FROM visits b WHERE b.person_id = ` + p + `.id AND ` + visitIsBlank("b") + `)
		THEN (SELECT v.visited_on FROM visits v WHERE v.person_id = ` + p + `.id AND ` + visitHasContent("v") + ` ORDER BY v.visited_on DESC LIMIT 1)
		ELSE (SELECT max(v.visited_on) FROM visits v WHERE v.person_id = ` + p + `.id) END)`
}

func invert(m map[string]int) map[int]bool {
	out := map[int]bool{}
	for _, v := range m {
		out[v] = true
	}
	return out
}

// StatusCounts counts the applications of each status in scope.
func (s *SQLiteStore) StatusCounts(ctx context.Context, scope string) (map[string]int, error) {
	w := &where{}
	f := Filter{Scope: scope}
	f.scopeWhere(w, "village")
	rows, err := s.db.R.QueryContext(ctx, `SELECT status, count(*) FROM applications WHERE `+w.sql()+` GROUP BY status`, w.args...)
	if err != nil {
		return nil, fmt.Errorf("status counts: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st sql.NullString
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("status counts: %w", err)
		}
		out[st.String] = n
	}
	return out, rows.Err()
}

// SubjectName returns the name of the person a record is about: the person
// itself, a visit's 走访对象 or an application's 申请人; "" when unknown.
// Callers have already checked the record is within the user's scope, and
// the person lives in the same village.
func (s *SQLiteStore) SubjectName(ctx context.Context, kind records.Kind, id string) string {
	var q string
	switch kind {
	case records.Person:
		q = `SELECT name FROM persons WHERE id = ?`
	case records.Visit:
		q = `SELECT p.name FROM visits v JOIN persons p ON p.id = v.person_id WHERE v.id = ?`
	case records.Application:
		q = `SELECT p.name FROM applications a JOIN persons p ON p.id = a.applicant_id WHERE a.id = ?`
	default:
		return ""
	}
	var name sql.NullString
	if err := s.db.R.QueryRowContext(ctx, q, id).Scan(&name); err != nil {
		return ""
	}
	return name.String
}
