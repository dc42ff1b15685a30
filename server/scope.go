package server

import (
	"strings"
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

// validCode reports whether s could be a division code or a prefix of one.
func validCode(s string) bool {
	return s != "" && len(s) <= 12 && strings.Trim(s, "0123456789") == ""
}

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

// scoped is a WHERE that keeps the rows of col within scope, the start of
// every query a page makes for a user.
func scoped(scope, col string) *where {
	w := &where{}
	f := Filter{Scope: scope}
	f.scopeWhere(w, col)
	return w
}

// contains is the condition that col contains s, and its argument: a LIKE
// with s's own wildcards escaped.
func contains(col, s string) (string, any) {
	return col + ` LIKE ? ESCAPE '\'`, "%" + likeEscape(s) + "%"
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
