package web

import (
	"html/template"
	"math"
	"net/http"
	"strconv"
	"strings"

	"stationsync/internal/records"
	"stationsync/server"
)

// The lists of records, one kind a page, filtered within the user's scope
// and paged; the review queue is the applications' list with checkboxes.

// filterOf reads the list filter of a request; the scope comes from the
// user, never from the request.
func filterOf(r *http.Request, u *server.User) server.Filter {
	q := r.URL.Query()
	f := server.Filter{
		Scope: u.Scope(), Place: strings.TrimSpace(q.Get("place")), Category: q.Get("category"), Status: q.Get("status"),
		Risk: q.Get("risk"), From: q.Get("from"), To: q.Get("to"), Q: strings.TrimSpace(q.Get("q")),
	}
	f.Limit = 50
	f.Offset = max(0, atoi(q.Get("page"), 1)-1) * f.Limit
	return f
}

type listData struct {
	Kind      string
	KindLabel string
	Columns   []string
	Rows      []server.Row
	Total     int
	Page      int
	Pages     int
	Filter    server.Filter
	// Query is the filter as a query string, for the export and pager
	// links. Typed as a URL: a plain string after "?" in an href is
	// escaped as one query value ("place%3d…"), and the export and the
	// next page then lose the filter.
	Query    template.URL
	Options  map[string][]string
	Statuses [][2]string
	Villages []string
	Queue    bool // the review queue: checkboxes and bulk decisions
	Follow   string
	Summary  []server.PlaceCount // follow-up: counts per township or village

	// Ops are the decisions the bulk form offers: those valid from the
	// status of the tab (or, on 全部, of any application listed); none
	// on a tab of finished applications.
	Ops []opChoice
}

func kindLabel(k records.Kind) string {
	return records.SchemaOf(k).Label
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request, u *server.User, kind records.Kind, tmpl, nav string, queue bool) {
	f := filterOf(r, u)
	if !placeAllowed(u, f.Place) {
		h.fail(w, r, u, http.StatusForbidden, "您只能查看本乡镇的村")
		return
	}
	d := listData{Kind: string(kind), KindLabel: kindLabel(kind), Columns: server.Columns(kind), Filter: f, Queue: queue}
	total, err := h.Store.List(r.Context(), kind, f, func(row server.Row) error {
		listCells(kind, row.Cells, !u.FullNumbers)
		d.Rows = append(d.Rows, row)
		return nil
	})
	if err != nil {
		h.internal(w, r, err)
		return
	}
	d.Total, d.Page, d.Pages = total, f.Offset/f.Limit+1, max(1, int(math.Ceil(float64(total)/float64(f.Limit))))
	q := r.URL.Query()
	q.Del("page")
	q.Del("msg")
	d.Query = template.URL(q.Encode())
	d.Options = map[string][]string{"categories": records.PersonCategories, "types": records.AssistanceTypes, "risks": records.RiskLevels, "disc": records.DisclosureKinds}
	switch kind {
	case records.Application:
		var counts map[string]int
		if queue {
			counts, _ = h.Store.StatusCounts(r.Context(), u.Scope())
		}
		for _, s := range records.AppStatuses {
			label := records.StatusLabel[s]
			if queue {
				label += " " + strconv.Itoa(counts[s])
			}
			d.Statuses = append(d.Statuses, [2]string{s, label})
		}
		if queue {
			d.Ops = bulkChoices(f.Status, d.Rows, h.directDecision(r.Context(), u))
		}
	case records.Person:
		for _, s := range records.PersonStatuses {
			d.Statuses = append(d.Statuses, [2]string{s, s})
		}
	case records.Disclosure:
		for _, s := range records.DisclosureStatuses {
			d.Statuses = append(d.Statuses, [2]string{s, disclosureStatusLabel[s]})
		}
	}
	d.Villages = h.places(r, u)
	h.render(w, r, http.StatusOK, tmpl, page{Title: d.KindLabel, Nav: nav, Data: d})
}

func (h *Handler) handleGetList(w http.ResponseWriter, r *http.Request, u *server.User) {
	kind, ok := kindOf(r.PathValue("kind"))
	if !ok {
		h.fail(w, r, u, http.StatusNotFound, "没有这类记录")
		return
	}
	h.list(w, r, u, kind, "list", "records-"+string(kind), false)
}

// places lists the filter choices of a user: each township (for county
// staff), then its villages.
func (h *Handler) places(r *http.Request, u *server.User) []string {
	villages, _ := h.Store.Villages(r.Context(), u.Scope())
	var out []string
	last := ""
	for _, v := range villages {
		if t := v[:9]; t != last && u.Scope() == "" {
			out = append(out, t)
			last = t
		}
		out = append(out, v)
	}
	return out
}
