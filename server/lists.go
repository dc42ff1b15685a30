package server

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"stationsync/internal/records"
	"stationsync/internal/zone"
)

// Row is one record of a list: its id, its village and its cells in the
// order of Columns (or FollowUpColumns), as the store holds them.
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

// riskFlagged is the WHERE term of the partial index visits_flagged
// (migration 0006), which a query must repeat to use it.
const riskFlagged = "v.risk <> '" + records.RiskNormal + "'"

type listSQL struct {
	count, query string
	args         []any
}

func (s *CountyStore) buildList(kind records.Kind, f *Filter) (listSQL, error) {
	w := &where{}
	var from, cols, order string
	switch kind {
	case records.Person:
		from = "persons p"
		f.scopeWhere(w, "p.village")
		if f.Category != "" {
			w.add(contains("p.categories", strconv.Quote(f.Category)))
		}
		if f.Status != "" {
			w.add("p.status = ?", f.Status)
		}
		if f.Q != "" {
			w.add(contains("p.name", f.Q))
		}
		// The last visit as the overdue list counts it: a blank one is no
		// visit (see overdue).
		cols = `p.id, p.village, p.name, p.id_number, p.categories, p.phone, p.address, p.status, ` + s.db.lastVisitSQL("p")
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
			w.add(contains("p.categories", strconv.Quote(f.Category)))
		}
		if f.Q != "" {
			w.add(contains("p.name", f.Q))
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
			w.add(contains("p.name", f.Q))
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
			w.add(contains("d.title", f.Q))
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
// total number that match (0 when streaming). The cells are as stored:
// JSON lists, fen, unix milliseconds and status codes, numbers unmasked;
// the pages turn them into text (server/web).
func (s *CountyStore) List(ctx context.Context, kind records.Kind, f Filter, fn func(Row) error) (int, error) {
	ls, err := s.buildList(kind, &f)
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
	total, err := pagedRows(ctx, conn, ls.query, ls.count, ls.args, f.Limit, f.Offset, len(Columns(kind))+1, fn)
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
