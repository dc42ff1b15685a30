package agent

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"stationsync/internal/idcard"
	"stationsync/internal/zone"
)

// What the station's pages read: paginated lists, searches that use the
// indexes of migrations/0002_pages.sql, and the state of one record (queued,
// refused, in conflict). Every list is bounded by LIMIT, so a page costs the
// same with 50 persons or 5,000.

// Today returns today's date in the display zone (zone.Name: the county's
// and the stations' one setting, Asia/Shanghai unless configured; its
// database is embedded, so a Windows PC without tzdata has it too), as
// 2006-01-02.
func Today(now time.Time) string { return zone.Today(now) }

// FrequentCategories are visited every 30 days; everyone else every 90
// (DOMAIN.md: a sensible default of the per-category policy).
var FrequentCategories = []string{"农村留守老年人", "困境儿童", "特困人员"}

// VisitEveryDays is the visit interval of a person with these categories.
func VisitEveryDays(categories []string) int {
	for _, c := range categories {
		for _, f := range FrequentCategories {
			if c == f {
				return 30
			}
		}
	}
	return 90
}

// dueSQL computes a person's next visit date in SQL (p: persons, s:
// visit_summary): the date typed on the latest visit, else the latest visit
// plus the policy interval, else the day the person was registered.
var dueSQL = func() string {
	var conds []string
	for _, c := range FrequentCategories {
		conds = append(conds, `p.categories LIKE '%"`+c+`"%'`)
	}
	return `coalesce(s.next_due, date(s.last_visited_on, CASE WHEN ` + strings.Join(conds, " OR ") +
		` THEN '+30 days' ELSE '+90 days' END), date(p.created_at / 1000, 'unixepoch', '+8 hours'))`
}()

// PersonQuery selects persons of the register.
type PersonQuery struct {
	Q        string // name (prefix, then anywhere) or ID number (prefix or last digits)
	Category string
	Status   string // 在册, 已退出 or "" for both
	Overdue  bool   // only those past their next visit date (today given)
	Today    string
	Offset   int
	Limit    int
}

// PersonRow is one line of the register.
type PersonRow struct {
	ID, Name, IDNumber, Phone, Status string
	Categories                        []string
	LastVisit, NextDue, LastRisk      string
	UpdatedBy                         string
	UpdatedAt                         int64
}

const personCols = `p.id, coalesce(p.name, ''), coalesce(p.id_number, ''), coalesce(p.phone, ''), coalesce(p.status, '在册'), coalesce(p.categories, '[]'),
	coalesce(s.last_visited_on, ''), ` + "%s" + `, coalesce(s.last_risk, ''), p.updated_by, p.updated_at`

func scanPersons(rows *sql.Rows) ([]PersonRow, error) {
	defer rows.Close()
	var out []PersonRow
	for rows.Next() {
		var r PersonRow
		var cats string
		if err := rows.Scan(&r.ID, &r.Name, &r.IDNumber, &r.Phone, &r.Status, &cats, &r.LastVisit, &r.NextDue, &r.LastRisk, &r.UpdatedBy, &r.UpdatedAt); err != nil {
			return nil, err
		}
		json.Unmarshal([]byte(cats), &r.Categories)
		out = append(out, r)
	}
	return out, rows.Err()
}

// SearchPersons returns one page of the register and how many persons match.
func (s *Store) SearchPersons(ctx context.Context, q PersonQuery) ([]PersonRow, int, error) {
	if q.Limit <= 0 {
		q.Limit = 20
	}
	var where []string
	var args []any
	if q.Category != "" {
		where = append(where, `EXISTS (SELECT 1 FROM json_each(p.categories) WHERE value = ?)`)
		args = append(args, q.Category)
	}
	if q.Status != "" {
		where = append(where, `coalesce(p.status, '在册') = ?`)
		args = append(args, q.Status)
	}
	if q.Overdue {
		where = append(where, `coalesce(p.status, '在册') = '在册' AND `+dueSQL+` < ?`)
		args = append(args, q.Today)
	}
	order := "p.name, p.id"
	if q.Overdue {
		order = dueSQL + ", p.name, p.id"
	}
	run := func(extra string, extraArgs ...any) ([]PersonRow, int, error) {
		w := append(append([]string{}, where...), extra)
		a := append(append([]any{}, args...), extraArgs...)
		cond := strings.Join(w, " AND ")
		if extra == "" {
			cond = strings.Join(where, " AND ")
		}
		if cond == "" {
			cond = "1"
		}
		var total int
		if err := s.db.R.QueryRowContext(ctx, `SELECT count(*) FROM persons p LEFT JOIN visit_summary s ON s.person_id = p.id WHERE `+cond, a...).Scan(&total); err != nil {
			return nil, 0, fmt.Errorf("count persons: %w", err)
		}
		rows, err := s.db.R.QueryContext(ctx, `SELECT `+fmt.Sprintf(personCols, dueSQL)+` FROM persons p LEFT JOIN visit_summary s ON s.person_id = p.id WHERE `+cond+
			` ORDER BY `+order+` LIMIT ? OFFSET ?`, append(a, q.Limit, q.Offset)...)
		if err != nil {
			return nil, 0, fmt.Errorf("list persons: %w", err)
		}
		list, err := scanPersons(rows)
		return list, total, err
	}
	term := strings.TrimSpace(q.Q)
	if term == "" {
		return run("")
	}
	if n := idcard.Normalize(term); isIDPart(n) {
		// An ID number, or its last digits: lists show 340123********123X,
		// so the end is what a cadre can read off a printout.
		list, total, err := run(`p.id_number >= ? AND p.id_number < ?`, n, n+"\U0010FFFF")
		if err != nil || total > 0 || len(n) > 8 {
			return list, total, err
		}
		return run(`substr(p.id_number, -?) = ?`, len(n), n)
	}
	// A name: by prefix through the index (a surname, a full name), then
	// anywhere in the name (a given name alone).
	list, total, err := run(`p.name >= ? AND p.name < ?`, term, term+"\U0010FFFF")
	if err != nil || total > 0 {
		return list, total, err
	}
	return run(`instr(p.name, ?) > 0`, term)
}

func isIDPart(s string) bool {
	if len(s) < 3 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] == 'X' && i == len(s)-1) {
			return false
		}
	}
	return true
}

// PersonDue returns one person's latest visit and next visit date.
func (s *Store) PersonDue(ctx context.Context, id string) (last, due string, err error) {
	err = s.db.R.QueryRowContext(ctx, `SELECT coalesce(s.last_visited_on, ''), `+dueSQL+` FROM persons p LEFT JOIN visit_summary s ON s.person_id = p.id WHERE p.id = ?`, id).Scan(&last, &due)
	if err == sql.ErrNoRows {
		err = ErrNotFound
	}
	return last, due, err
}

// PersonByIDNumber returns the id and name of the person with this ID
// number, "" if none.
func (s *Store) PersonByIDNumber(ctx context.Context, number string) (id, name string) {
	s.db.R.QueryRowContext(ctx, `SELECT id, coalesce(name, '') FROM persons WHERE id_number = ? LIMIT 1`, number).Scan(&id, &name)
	return id, name
}

// VisitRow is one line of a visit list.
type VisitRow struct {
	ID, PersonID, PersonName, VisitedOn, Method, Risk, Situation, NextDue string
	Visitors                                                              []string
	CreatedBy                                                             string
	Pending                                                               bool
	VoidReason                                                            string // set: voided, counts nowhere
}

// VisitQuery selects visits.
type VisitQuery struct {
	PersonID string
	Risk     string
	// Live leaves voided visits out.
	Live   bool
	Offset int
	Limit  int
}

// Visits returns a page of visits, latest first, and how many match.
func (s *Store) Visits(ctx context.Context, q VisitQuery) ([]VisitRow, int, error) {
	if q.Limit <= 0 {
		q.Limit = 20
	}
	var where []string
	var args []any
	if q.PersonID != "" {
		where = append(where, "v.person_id = ?")
		args = append(args, q.PersonID)
	}
	if q.Risk != "" {
		where = append(where, "v.risk = ?")
		args = append(args, q.Risk)
	}
	if q.Live {
		where = append(where, "coalesce(v.void_reason, '') = ''")
	}
	cond := "1"
	if len(where) > 0 {
		cond = strings.Join(where, " AND ")
	}
	var total int
	if err := s.db.R.QueryRowContext(ctx, `SELECT count(*) FROM visits v WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count visits: %w", err)
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT v.id, coalesce(v.person_id, ''), coalesce(p.name, ''), coalesce(v.visited_on, ''), coalesce(v.method, ''), coalesce(v.risk, ''),
		coalesce(v.situation, ''), coalesce(v.next_due, ''), coalesce(v.visitors, '[]'), v.created_by, coalesce(v.void_reason, ''),
		EXISTS (SELECT 1 FROM outbox o WHERE o.kind = 'visit' AND o.record_id = v.id)
		FROM (SELECT v.id FROM visits v WHERE `+cond+` ORDER BY v.visited_on DESC, v.id DESC LIMIT ? OFFSET ?) pg
		JOIN visits v ON v.id = pg.id LEFT JOIN persons p ON p.id = v.person_id ORDER BY v.visited_on DESC, v.id DESC`, append(args, q.Limit, q.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list visits: %w", err)
	}
	defer rows.Close()
	var out []VisitRow
	for rows.Next() {
		var r VisitRow
		var vis string
		if err := rows.Scan(&r.ID, &r.PersonID, &r.PersonName, &r.VisitedOn, &r.Method, &r.Risk, &r.Situation, &r.NextDue, &vis, &r.CreatedBy, &r.VoidReason, &r.Pending); err != nil {
			return nil, 0, err
		}
		json.Unmarshal([]byte(vis), &r.Visitors)
		out = append(out, r)
	}
	return out, total, rows.Err()
}

// AppRow is one line of an application list.
type AppRow struct {
	ID, ApplicantID, ApplicantName, Type, Status string
	AmountFen                                    sql.NullInt64
	UpdatedBy                                    string
	UpdatedAt                                    int64
}

// AppQuery selects applications.
type AppQuery struct {
	ApplicantID string
	Status      string
	Offset      int
	Limit       int
}

// Applications returns a page of applications, last changed first.
func (s *Store) Applications(ctx context.Context, q AppQuery) ([]AppRow, int, error) {
	if q.Limit <= 0 {
		q.Limit = 20
	}
	var where []string
	var args []any
	if q.ApplicantID != "" {
		where = append(where, "a.applicant_id = ?")
		args = append(args, q.ApplicantID)
	}
	if q.Status != "" {
		where = append(where, "a.status = ?")
		args = append(args, q.Status)
	}
	cond := "1"
	if len(where) > 0 {
		cond = strings.Join(where, " AND ")
	}
	var total int
	if err := s.db.R.QueryRowContext(ctx, `SELECT count(*) FROM applications a WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count applications: %w", err)
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT a.id, coalesce(a.applicant_id, ''), coalesce(p.name, ''), coalesce(a.type, ''), coalesce(a.status, ''), a.amount_requested_fen, a.updated_by, a.updated_at
		FROM applications a LEFT JOIN persons p ON p.id = a.applicant_id WHERE `+cond+` ORDER BY a.updated_at DESC, a.id LIMIT ? OFFSET ?`, append(args, q.Limit, q.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list applications: %w", err)
	}
	defer rows.Close()
	var out []AppRow
	for rows.Next() {
		var r AppRow
		if err := rows.Scan(&r.ID, &r.ApplicantID, &r.ApplicantName, &r.Type, &r.Status, &r.AmountFen, &r.UpdatedBy, &r.UpdatedAt); err != nil {
			return nil, 0, err
		}
		out = append(out, r)
	}
	return out, total, rows.Err()
}

// DisclosureRow is one line of the disclosure list.
type DisclosureRow struct {
	ID, Category, Title, Status, From, Until, Reviewer, UpdatedBy string
	UpdatedAt                                                     int64
	// PublicNumbers are the contact numbers its publisher marked public
	// (records.PublicNumbers): a list masks the rest, as the notice does.
	PublicNumbers []string
}

// Disclosures returns a page of disclosures, last changed first.
func (s *Store) Disclosures(ctx context.Context, status string, offset, limit int) ([]DisclosureRow, int, error) {
	if limit <= 0 {
		limit = 20
	}
	cond, args := "1", []any{}
	if status != "" {
		cond, args = "coalesce(status, 'draft') = ?", []any{status}
	}
	var total int
	if err := s.db.R.QueryRowContext(ctx, `SELECT count(*) FROM disclosures WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count disclosures: %w", err)
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT id, coalesce(category, ''), coalesce(title, ''), coalesce(status, 'draft'), coalesce(publish_from, ''), coalesce(publish_until, ''), coalesce(reviewer, ''), updated_by, updated_at, public_numbers
		FROM disclosures WHERE `+cond+` ORDER BY updated_at DESC, id LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list disclosures: %w", err)
	}
	defer rows.Close()
	var out []DisclosureRow
	for rows.Next() {
		var r DisclosureRow
		var public sql.NullString
		if err := rows.Scan(&r.ID, &r.Category, &r.Title, &r.Status, &r.From, &r.Until, &r.Reviewer, &r.UpdatedBy, &r.UpdatedAt, &public); err != nil {
			return nil, 0, err
		}
		// Unreadable, none is public and every number stays masked, as
		// records.PublicNumbers reads it.
		var l []string
		if public.Valid && json.Unmarshal([]byte(public.String), &l) == nil {
			r.PublicNumbers = l
		}
		out = append(out, r)
	}
	return out, total, rows.Err()
}

// Counts are the figures of the station's home page.
type Counts struct {
	Persons, Exited, Overdue, UrgentVisits, Visits, OpenApps, ReturnedApps, DecidedApps, Drafts int
}

// Counts reads the home page's figures.
func (s *Store) Counts(ctx context.Context, today string) (Counts, error) {
	var c Counts
	err := s.db.R.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM persons WHERE coalesce(status, '在册') = '在册'),
		(SELECT count(*) FROM persons WHERE status = '已退出'),
		(SELECT count(*) FROM persons p LEFT JOIN visit_summary s ON s.person_id = p.id WHERE coalesce(p.status, '在册') = '在册' AND `+dueSQL+` < ?),
		(SELECT count(*) FROM visits WHERE risk = '紧急' AND coalesce(void_reason, '') = ''),
		(SELECT count(*) FROM visits WHERE coalesce(void_reason, '') = ''),
		(SELECT count(*) FROM applications WHERE status IN ('submitted', 'accepted', 'reviewing')),
		(SELECT count(*) FROM applications WHERE status = 'returned'),
		(SELECT count(*) FROM applications WHERE status IN ('approved', 'rejected')),
		(SELECT count(*) FROM applications WHERE status = 'draft')`, today).
		Scan(&c.Persons, &c.Exited, &c.Overdue, &c.UrgentVisits, &c.Visits, &c.OpenApps, &c.ReturnedApps, &c.DecidedApps, &c.Drafts)
	return c, err
}

// RecordState is what the pages show beside a record: whether it still
// waits to go up, changes the county refused, and conflicts it lost.
type RecordState struct {
	Pending   int
	Rejected  []RejectedChange
	Conflicts []Conflict
}

// RejectedChange is a change the county refused, with its local id so the
// cadre can mark it handled.
type RejectedChange struct {
	ID                               int64
	Kind, RecordID, Op, Code, Reason string
	Fields                           map[string]json.RawMessage
	At                               int64
	RecordLabel                      string // the person's name, the title …
}

// Conflict is a field whose value lost to another edit at the county's
// merge; both values are kept.
type Conflict struct {
	Kind, RecordID, Field     string
	Winner, Loser             json.RawMessage
	WinnerOrigin, LoserOrigin string
	At                        int64
}

// State returns a record's sync state.
func (s *Store) State(ctx context.Context, kind, id string) (RecordState, error) {
	var st RecordState
	if err := s.db.R.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE kind = ? AND record_id = ?`, kind, id).Scan(&st.Pending); err != nil {
		return st, err
	}
	var err error
	if st.Rejected, err = s.rejected(ctx, `AND kind = ? AND record_id = ?`, 50, kind, id); err != nil {
		return st, err
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT kind, record_id, field, winner, loser, winner_origin, loser_origin, at FROM conflicts WHERE kind = ? AND record_id = ? ORDER BY at`, kind, id)
	if err != nil {
		return st, err
	}
	defer rows.Close()
	for rows.Next() {
		var c Conflict
		var w, l string
		if err := rows.Scan(&c.Kind, &c.RecordID, &c.Field, &w, &l, &c.WinnerOrigin, &c.LoserOrigin, &c.At); err != nil {
			return st, err
		}
		c.Winner, c.Loser = json.RawMessage(w), json.RawMessage(l)
		st.Conflicts = append(st.Conflicts, c)
	}
	return st, rows.Err()
}

func (s *Store) rejected(ctx context.Context, cond string, limit int, args ...any) ([]RejectedChange, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT r.id, r.kind, r.record_id, r.op, r.code, r.reason, r.fields, r.at,
		coalesce(p.name, a.type, d.title, '')
		FROM rejected r
		LEFT JOIN persons p ON r.kind = 'person' AND p.id = r.record_id
		LEFT JOIN applications a ON r.kind = 'application' AND a.id = r.record_id
		LEFT JOIN disclosures d ON r.kind = 'disclosure' AND d.id = r.record_id
		WHERE r.dismissed_at IS NULL `+cond+` ORDER BY r.id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("rejected: %w", err)
	}
	defer rows.Close()
	var out []RejectedChange
	for rows.Next() {
		var r RejectedChange
		var f string
		if err := rows.Scan(&r.ID, &r.Kind, &r.RecordID, &r.Op, &r.Code, &r.Reason, &f, &r.At, &r.RecordLabel); err != nil {
			return nil, err
		}
		json.Unmarshal([]byte(f), &r.Fields)
		out = append(out, r)
	}
	return out, rows.Err()
}

// RejectedChanges lists the refused changes not yet marked handled, latest
// first.
func (s *Store) RejectedChanges(ctx context.Context, limit int) ([]RejectedChange, error) {
	return s.rejected(ctx, "", limit)
}

// DismissRejected marks a refused change handled (the cadre fixed the
// record, or it no longer matters).
func (s *Store) DismissRejected(ctx context.Context, id int64) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE rejected SET dismissed_at = ? WHERE id = ? AND dismissed_at IS NULL`, s.clock.Physical().UnixMilli(), id)
		return err
	})
}

// Conflicts lists the conflicts on this village's records, latest first.
func (s *Store) Conflicts(ctx context.Context, limit int) ([]Conflict, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT kind, record_id, field, winner, loser, winner_origin, loser_origin, at FROM conflicts ORDER BY at DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Conflict
	for rows.Next() {
		var c Conflict
		var w, l string
		if err := rows.Scan(&c.Kind, &c.RecordID, &c.Field, &w, &l, &c.WinnerOrigin, &c.LoserOrigin, &c.At); err != nil {
			return nil, err
		}
		c.Winner, c.Loser = json.RawMessage(w), json.RawMessage(l)
		out = append(out, c)
	}
	return out, rows.Err()
}

// UrgentPending counts urgent visits still waiting to go up.
func (s *Store) UrgentPending(ctx context.Context) int {
	var n int
	s.db.R.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE urgent = 1`).Scan(&n)
	return n
}

// Decision is a county decision on an application, as the home page
// announces it until a cadre has seen it.
type Decision struct {
	HistoryID, AppID, ApplicantName, Status, By, Comment string
	At                                                   int64
}

// decisionStatuses are the outcomes a cadre must learn of.
const decisionStatuses = `('approved', 'rejected', 'returned')`

// NewDecisions returns the county's decisions no cadre has seen yet, latest
// first, and how many there are.
func (s *Store) NewDecisions(ctx context.Context, limit int) ([]Decision, int, error) {
	const from = ` FROM application_history h WHERE h.to_status IN ` + decisionStatuses + ` AND h.origin <> (SELECT coalesce((SELECT value FROM meta WHERE key = 'station_id'), ''))
		AND NOT EXISTS (SELECT 1 FROM decisions_seen d WHERE d.history_id = h.id)`
	var total int
	if err := s.db.R.QueryRowContext(ctx, `SELECT count(*)`+from).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count decisions: %w", err)
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT h.id, h.application_id, coalesce((SELECT p.name FROM applications a JOIN persons p ON p.id = a.applicant_id WHERE a.id = h.application_id), ''),
		h.to_status, h.by_name, h.comment, h.at`+from+` ORDER BY h.at DESC LIMIT ?`, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("list decisions: %w", err)
	}
	defer rows.Close()
	var out []Decision
	for rows.Next() {
		var d Decision
		if err := rows.Scan(&d.HistoryID, &d.AppID, &d.ApplicantName, &d.Status, &d.By, &d.Comment, &d.At); err != nil {
			return nil, 0, fmt.Errorf("list decisions: %w", err)
		}
		out = append(out, d)
	}
	return out, total, rows.Err()
}

// MarkDecisionsSeen records that cadre by has seen the county's decisions
// on application appID (its page was opened).
func (s *Store) MarkDecisionsSeen(ctx context.Context, appID, by string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO decisions_seen (history_id, seen_by, seen_at)
			SELECT id, ?, ? FROM application_history WHERE application_id = ? AND to_status IN `+decisionStatuses, by, s.clock.Physical().UnixMilli(), appID)
		if err != nil {
			return fmt.Errorf("mark decisions seen: %w", err)
		}
		return nil
	})
}
