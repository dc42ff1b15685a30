package server

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"stationsync/internal/zone"
)

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
// (limit < 0) all rows streamed. The cells are as stored, like List's:
// the overdue list's categories and the urgent list's needs as JSON lists
// ("" for never visited in the overdue list's last visit), the review
// list's amount in fen, free text unmasked.
func (s *CountyStore) FollowUp(ctx context.Context, k FollowUpKind, scope, place string, today time.Time, limit, offset int, fn func(Row) error) (int, error) {
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
		w.add("NOT " + s.db.laterVisitSQL("v"))
		sel := `SELECT v.id, v.village, p.name, v.visited_on, v.needs, v.measures, ` + s.db.daysBetween("v.visited_on", "?") + `
			FROM visits v LEFT JOIN persons p ON p.id = v.person_id WHERE ` + w.sql()
		args = append([]any{day}, w.args...)
		q = sel + ` ORDER BY v.visited_on, v.id`
		cnt = `SELECT count(*) FROM (` + sel + `) AS l`
	case FollowReview:
		p := s.Policy(ctx)
		f.scopeWhere(w, "a.village")
		w.add("a.status = 'approved'")
		w.add("a.approved_from <= ?", today.AddDate(0, -p.ReviewMonth, 0).Format("2006-01"))
		sel := `SELECT a.id, a.village, p.name, a.type, a.approved_amount_fen, a.approved_from,
			(CAST(substr(?, 1, 4) AS BIGINT) - CAST(substr(a.approved_from, 1, 4) AS BIGINT)) * 12 + CAST(substr(?, 6, 2) AS BIGINT) - CAST(substr(a.approved_from, 6, 2) AS BIGINT)
			FROM applications a LEFT JOIN persons p ON p.id = a.applicant_id WHERE ` + w.sql()
		args = append([]any{day, day}, w.args...)
		q = sel + ` ORDER BY a.approved_from, a.id`
		cnt = `SELECT count(*) FROM (` + sel + `) AS l`
	default:
		return 0, ErrNotFound
	}
	conn, err := s.reader(ctx)
	if err != nil {
		return 0, fmt.Errorf("follow-up %s: %w", k, err)
	}
	defer conn.Close()
	total, err := pagedRows(ctx, conn, q, cnt, args, limit, offset, len(FollowUpColumns(k))+1, fn)
	if err != nil {
		return 0, fmt.Errorf("follow-up %s: %w", k, err)
	}
	return total, nil
}

// overdue lists the people past their visit interval. SQL finds them by
// comparing each person's last visit with a cutoff date computed here per
// interval; due dates, days overdue and the order are computed in Go for
// the few that are due, which is far cheaper than date arithmetic in SQL
// on every person of the county.
func (s *CountyStore) overdue(ctx context.Context, w *where, f Filter, today time.Time, limit, offset int, fn func(Row) error) (int, error) {
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
		cases = append(cases, `WHEN p.categories LIKE ? ESCAPE '\' THEN CAST(? AS BIGINT)`)
		args = append(args, "%"+likeEscape(strconv.Quote(c))+"%", p.Days[c])
	}
	// Typed: PostgreSQL cannot tell a bare parameter's type from CASE.
	interval := "CAST(? AS BIGINT)"
	if len(cases) > 0 {
		interval = "CASE " + strings.Join(cases, " ") + " ELSE CAST(? AS BIGINT) END"
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
	cut := "?"
	if len(cutCases) > 0 {
		cut = "CASE days " + strings.Join(cutCases, " ") + " ELSE ? END"
	}
	cutArgs = append(cutArgs, day(p.DefaultDays))
	// The last visit is the latest one with content: a visit saved from an
	// untouched form (no situation, no measures; older stations allowed
	// it) is no evidence that anyone went, and must not take a person off
	// this list (lastVisitSQL). A never-visited person counts from the day
	// of registration in the display zone.
	q := `SELECT id, village, name, categories, last, created_at, days FROM (
		SELECT p.id, p.village, p.name, p.categories, p.created_at, ` + s.db.lastVisitSQL("p") + ` AS last,
			` + interval + ` AS days FROM persons p WHERE ` + w.sql() + `) AS o
		WHERE coalesce(last, ` + s.db.unixDay("created_at / 1000 + ?") + `) < ` + cut
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
			lastText = "" // never visited
		}
		d := from.AddDate(0, 0, days)
		t0 := time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, today.Location())
		late := int(t0.Sub(d).Hours() / 24)
		list = append(list, due{row: Row{ID: id, Village: village, Cells: []string{village, name.String, cats.String, lastText, d.Format("2006-01-02"), strconv.Itoa(late)}}, due: d.Format("2006-01-02")})
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

func invert(m map[string]int) map[int]bool {
	out := map[int]bool{}
	for _, v := range m {
		out[v] = true
	}
	return out
}

// followCache holds the whole follow-up lists last asked for, so that
// paging through one, counting it per place and the menu's figure take
// one pass over every person of the scope, not one each.
//
// Its rule: every list in it was computed under one generation, the data
// version (DataVersion: any change of any record moves it) and the visit
// policy; a lookup under another generation finds nothing, and a list of
// a newer generation empties it, so a list is never served after a record
// or the policy changed. It holds at most followCacheN lists, dropping the
// oldest. The zero value is empty and ready.
type followCache struct {
	mu    sync.Mutex
	gen   followGen
	order []followKey
	lists map[followKey][]Row
}

// followGen is what a follow-up list was computed under.
type followGen struct {
	version int64  // DataVersion
	policy  string // the VisitPolicy, as JSON
}

// followKey names one follow-up list.
type followKey struct {
	kind         FollowUpKind
	scope, place string
	day          string // today, in the display zone: overdue and review lists move with it
}

const followCacheN = 16

func (c *followCache) get(gen followGen, key followKey) ([]Row, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return nil, false
	}
	rows, ok := c.lists[key]
	return rows, ok
}

func (c *followCache) put(gen followGen, key followKey, rows []Row) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen.version < c.gen.version {
		return // computed before a change another list already saw
	}
	if c.lists == nil || c.gen != gen {
		c.gen, c.order, c.lists = gen, nil, map[followKey][]Row{}
	}
	if _, ok := c.lists[key]; ok {
		return
	}
	c.order = append(c.order, key)
	c.lists[key] = rows
	for len(c.order) > followCacheN {
		delete(c.lists, c.order[0])
		c.order = c.order[1:]
	}
}

// followList returns a whole follow-up list from the store's cache,
// computing it when the cache has none of this generation. The rows are
// the cache's: read them, never change them.
func (s *CountyStore) followList(ctx context.Context, k FollowUpKind, scope, place string, today time.Time) ([]Row, error) {
	v, err := s.DataVersion(ctx)
	if err != nil {
		return nil, err
	}
	pol, _ := json.Marshal(s.Policy(ctx))
	gen := followGen{version: v, policy: string(pol)}
	key := followKey{kind: k, scope: scope, place: place, day: today.Format("2006-01-02")}
	if all, ok := s.follow.get(gen, key); ok {
		return all, nil
	}
	all := []Row{}
	if _, err := s.FollowUp(ctx, k, scope, place, today, -1, 0, func(r Row) error {
		all = append(all, r)
		return nil
	}); err != nil {
		return nil, err
	}
	s.follow.put(gen, key, all)
	return all, nil
}

// FollowUpPage is FollowUp for one page, served from the store's cache
// of the whole list while no record changed (followCache). The rows are
// copies, the caller's to change.
func (s *CountyStore) FollowUpPage(ctx context.Context, k FollowUpKind, scope, place string, today time.Time, limit, offset int) ([]Row, int, error) {
	all, err := s.followList(ctx, k, scope, place, today)
	if err != nil {
		return nil, 0, err
	}
	page := all[min(offset, len(all)):min(offset+limit, len(all))]
	out := make([]Row, len(page))
	for i, r := range page {
		out[i] = Row{ID: r.ID, Village: r.Village, Cells: slices.Clone(r.Cells)}
	}
	return out, len(all), nil
}

// PlaceCount is how many rows of a list fall in one township or village.
type PlaceCount struct {
	Code string
	N    int
}

// FollowUpSummary counts a follow-up list per township (or, for a
// township's staff or a township filter, per village), from the same cache
// as FollowUpPage.
func (s *CountyStore) FollowUpSummary(ctx context.Context, k FollowUpKind, scope, place string, today time.Time) ([]PlaceCount, error) {
	rows, err := s.followList(ctx, k, scope, place, today)
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
