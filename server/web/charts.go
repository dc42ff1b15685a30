package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"stationsync/internal/records"
	"stationsync/internal/zone"
	"stationsync/server"
)

// A report is one set of numbers (chart) shown three ways that must agree:
// an SVG drawn here (charts_svg.go: no chart library, nothing loaded from
// the internet, the same picture in every browser and in print), a table
// under it and that table as CSV (charts_table.go). The SVG sits inline in
// the page, not behind <img>, so its <title>s are real tooltips and its
// columns take keyboard focus.

// chart is the numbers of one report. Places are kept as codes and named
// only when shown (named), so a name typed in the settings shows at once
// although the numbers stay cached until a record changes.
type chart struct {
	ID     string   // visits → /reports/visits.svg, /reports/visits.csv, #chart-visits
	Title  string   // above the chart, and the SVG's accessible name
	File   string   // the CSV's file name, before the time stamp
	Bars   bool     // stacked bars; else one line per series
	Corner string   // what a row of the table is: 月份, 乡镇, 救助类型, 日期
	Labels []string // one per bar or point, a row of the table each
	Ticks  []string // the axis's shorter text per label; nil: the labels
	Places bool     // the labels are township codes
	Series []series // drawn, stacked in this order, a column of the table each
	Extra  []series // columns only in the table, before the series
	Pct    bool     // the series are percentages (0–100); else whole counts
	Word   string   // what a count counts: 次, 人, 份, 个
	Total  bool     // a 合计 column: the stack's height
	Note   string
	Other  []string // codes summed into the series 其他
}

// series is one coloured part of a chart: a township (Code) or a status.
type series struct {
	Name   string
	Code   string `json:",omitempty"`
	Values []float64
}

var palette = []string{"#2b6cb0", "#dd6b20", "#38a169", "#d53f8c", "#805ad5", "#d69e2e", "#319795", "#e53e3e", "#4a5568", "#9c4221", "#2c7a7b", "#97266d"}

// maxPlaces is how many townships get a colour of their own in the visits
// chart; the rest are summed as 其他 (a county has 10–20 townships).
const maxPlaces = 12

// chartIDs are the reports in page order; health only for county accounts.
var chartIDs = []string{"visits", "coverage", "applications", "applications-months", "health"}

// months returns the n months up to and including now's, as 2006-01, in
// now's location (the display zone: h.today()).
func months(now time.Time, n int) []string {
	out := make([]string, n)
	first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, now.Location())
	for i := range n {
		out[i] = first.AddDate(0, i-n+1, 0).Format("2006-01")
	}
	return out
}

func total(s series) float64 {
	t := 0.0
	for _, v := range s.Values {
		t += v
	}
	return t
}

// topSeries keeps the k largest series and sums the rest as 其他, whose
// codes it returns.
func topSeries(ss []series, k int) ([]series, []string) {
	sort.SliceStable(ss, func(i, j int) bool { return total(ss[i]) > total(ss[j]) })
	if len(ss) <= k {
		return ss, nil
	}
	rest := series{Name: "其他", Values: make([]float64, len(ss[0].Values))}
	var codes []string
	for _, s := range ss[k-1:] {
		codes = append(codes, s.Code)
		for i, v := range s.Values {
			rest.Values[i] += v
		}
	}
	return append(ss[:k-1], rest), codes
}

// dropEmpty leaves out the series without a single count: a legend of
// eight statuses most of which never occur hides the ones that do.
func dropEmpty(ss []series) []series {
	return slices.DeleteFunc(ss, func(s series) bool { return total(s) == 0 })
}

// indexOf maps each label to its place on the axis.
func indexOf(labels []string) map[string]int {
	idx := make(map[string]int, len(labels))
	for i, l := range labels {
		idx[l] = i
	}
	return idx
}

// byStatus makes one series per application status, over the axis labels
// that are the counts' keys (Sub is the status); counts off the axis are
// left out.
func byStatus(counts []server.Count, labels []string) []series {
	idx := indexOf(labels)
	var ss []series
	for _, st := range records.AppStatuses {
		s := series{Name: records.StatusLabel[st], Values: make([]float64, len(labels))}
		for _, c := range counts {
			if i, ok := idx[c.Key]; ok && c.Sub == st {
				s.Values[i] += float64(c.N)
			}
		}
		ss = append(ss, s)
	}
	return ss
}

func quarterStart(now time.Time) time.Time {
	m := (int(now.Month())-1)/3*3 + 1
	return time.Date(now.Year(), time.Month(m), 1, 0, 0, 0, 0, now.Location())
}

// build computes the numbers of one report, within u's scope; nil for an
// unknown report. Days and months are the users' (China time).
func (h *Handler) build(r *http.Request, u *server.User, id string) (*chart, error) {
	ctx := r.Context()
	now := h.today()
	switch id {
	case "visits":
		ms := months(now, 12)
		counts, err := h.Store.VisitsByMonth(ctx, u.Scope(), ms[0])
		if err != nil {
			return nil, err
		}
		idx := indexOf(ms)
		at := map[string]int{} // township code → its series
		var ss []series
		for _, c := range counts {
			j, ok := at[c.Key]
			if !ok {
				j = len(ss)
				at[c.Key] = j
				ss = append(ss, series{Code: c.Key, Values: make([]float64, len(ms))})
			}
			if i, ok := idx[c.Sub]; ok {
				ss[j].Values[i] += float64(c.N)
			}
		}
		sort.SliceStable(ss, func(i, j int) bool { return ss[i].Code < ss[j].Code })
		ss, other := topSeries(ss, maxPlaces)
		return &chart{ID: id, Title: "近12个月走访次数（按乡镇）", File: "走访次数", Bars: true, Corner: "月份", Labels: ms,
			Series: ss, Word: "次", Total: len(ss) > 1, Other: other,
			Note: "作废的走访和空白走访（没有填写基本情况和帮扶措施）不计在内。"}, nil
	case "coverage":
		qs := quarterStart(now)
		counts, err := h.Store.Coverage(ctx, u.Scope(), qs.Format("2006-01-02"))
		if err != nil {
			return nil, err
		}
		all, vis := map[string]float64{}, map[string]float64{}
		var ts []string
		for _, c := range counts {
			if c.Sub == "all" {
				all[c.Key] = float64(c.N)
				ts = append(ts, c.Key)
			} else {
				vis[c.Key] = float64(c.N)
			}
		}
		sort.Strings(ts)
		c := &chart{ID: id, Title: fmt.Sprintf("走访覆盖率：%s起本季度已走访的在册对象占比（按乡镇）", qs.Format("2006-01-02")), File: "走访覆盖率",
			Bars: true, Corner: "乡镇", Labels: ts, Places: true, Pct: true, Word: "人",
			Extra:  []series{{Name: "在册对象（人）", Values: make([]float64, len(ts))}, {Name: "本季度已走访（人）", Values: make([]float64, len(ts))}},
			Series: []series{{Name: "覆盖率（%）", Values: make([]float64, len(ts))}},
			Note:   "已走访指本季度内至少有一次有效走访；作废和空白的走访不算。"}
		for i, t := range ts {
			c.Extra[0].Values[i], c.Extra[1].Values[i] = all[t], vis[t]
			if all[t] > 0 {
				c.Series[0].Values[i] = math.Round(1000*vis[t]/all[t]) / 10
			}
		}
		return c, nil
	case "applications":
		counts, err := h.Store.ApplicationsByTypeStatus(ctx, u.Scope())
		if err != nil {
			return nil, err
		}
		ss := dropEmpty(byStatus(counts, records.AssistanceTypes))
		return &chart{ID: id, Title: "救助申请：按救助类型和当前状态", File: "救助申请按类型", Bars: true, Corner: "救助类型",
			Labels: records.AssistanceTypes, Series: ss, Word: "份", Total: len(ss) > 1}, nil
	case "applications-months":
		ms := months(now, 12)
		from, _ := time.ParseInLocation("2006-01", ms[0], zone.Location())
		counts, err := h.Store.ApplicationsByMonth(ctx, u.Scope(), from)
		if err != nil {
			return nil, err
		}
		ss := dropEmpty(byStatus(counts, ms))
		return &chart{ID: id, Title: "近12个月新建的救助申请（按当前状态）", File: "救助申请按月", Bars: true, Corner: "月份",
			Labels: ms, Series: ss, Word: "份", Total: len(ss) > 1, Note: "按申请在村站建立的月份（北京时间）统计。"}, nil
	case "health":
		if u.Scope() != "" {
			return nil, nil
		}
		hist, err := h.Store.HealthHistory(ctx, now.AddDate(0, 0, -90))
		if err != nil {
			return nil, err
		}
		c := &chart{ID: id, Title: "站点同步情况（近90天每日记录，全县）", File: "站点同步情况", Corner: "日期", Word: "个",
			Series: []series{{Name: "站点总数"}, {Name: "24小时内同步"}, {Name: "7天内同步"}, {Name: "失联"}}}
		for _, d := range hist {
			c.Labels = append(c.Labels, d.Day)
			c.Ticks = append(c.Ticks, d.Day[5:])
			for i, v := range []int{d.Stations, d.Synced1d, d.Synced7d, d.Silent} {
				c.Series[i].Values = append(c.Series[i].Values, float64(v))
			}
		}
		for i := range c.Series {
			if c.Series[i].Values == nil {
				c.Series[i].Values = []float64{}
			}
		}
		return c, nil
	}
	return nil, nil
}

// load returns a report's numbers, from the cache while no record has
// changed the same day (an aggregate over a million visits is worth
// computing once per change); the health history, which a snapshot
// changes without a record doing so, is computed every time.
func (h *Handler) load(r *http.Request, u *server.User, id string) (*chart, error) {
	if id == "health" {
		return h.build(r, u, id)
	}
	v, err := h.Store.DataVersion(r.Context())
	if err != nil {
		return nil, err
	}
	key := fmt.Sprintf("data|%s|%s|%s|%d", id, u.Scope(), zone.Today(h.Now()), v)
	h.chartMu.Lock()
	b, ok := h.charts[key]
	h.chartMu.Unlock()
	if ok {
		var c chart
		if err := json.Unmarshal(b, &c); err == nil {
			return &c, nil
		}
	}
	c, err := h.build(r, u, id)
	if err != nil || c == nil {
		return c, err
	}
	if b, err := json.Marshal(c); err == nil {
		h.chartMu.Lock()
		if h.charts == nil || len(h.charts) > 200 {
			h.charts = map[string][]byte{}
		}
		h.charts[key] = b
		h.chartMu.Unlock()
	}
	return c, nil
}

// named is c as people read it: townships by name (typed in the
// settings, else the official table), never by code.
func (h *Handler) named(c *chart, names map[string]string) *chart {
	out := *c
	out.Series = slices.Clone(c.Series)
	for i, s := range out.Series {
		if s.Code != "" {
			out.Series[i].Name = h.placeName(names, s.Code)
		}
	}
	if c.Places {
		out.Labels = make([]string, len(c.Labels))
		for i, l := range c.Labels {
			out.Labels[i] = h.placeName(names, l)
		}
	}
	if len(c.Other) > 0 {
		var ns []string
		for _, code := range c.Other {
			ns = append(ns, h.placeName(names, code))
		}
		out.Note = strings.TrimSpace(out.Note + " 其他：" + strings.Join(ns, "、") + "。")
	}
	return &out
}

// chartView is what reports.html shows of one report.
type chartView struct {
	ID, Title, Note, Caption string
	SVG                      template.HTML
	Legend                   []legendItem
	Head                     []string
	Rows                     [][]string
}

type legendItem struct{ Name, Color string }

func (h *Handler) handleGetReports(w http.ResponseWriter, r *http.Request, u *server.User) {
	h.snapshotHealth(r, h.Store.SilentDays(r.Context()))
	names, _ := h.Store.PlaceNames(r.Context())
	var views []chartView
	for _, id := range chartIDs {
		c, err := h.load(r, u, id)
		if err != nil {
			h.internal(w, r, err)
			return
		}
		if c == nil {
			continue
		}
		c = h.named(c, names)
		v := chartView{ID: c.ID, Title: c.Title, Note: c.Note, SVG: template.HTML(drawSVG(c, false)), Caption: c.caption()}
		if len(c.Series) > 1 {
			for j, s := range c.Series {
				v.Legend = append(v.Legend, legendItem{s.Name, palette[j%len(palette)]})
			}
		}
		v.Head, v.Rows = c.table()
		views = append(views, v)
	}
	h.render(w, r, http.StatusOK, "reports", page{Title: "报表", Nav: "reports", Data: map[string]any{"Charts": views}, Names: names})
}

// handleGetChart answers one report alone: /reports/visits.svg, a picture
// with its legend inside, or /reports/visits.csv, the table under it.
func (h *Handler) handleGetChart(w http.ResponseWriter, r *http.Request, u *server.User) {
	name := r.PathValue("chart")
	id, format, _ := strings.Cut(name, ".")
	if id == "health" && u.Scope() != "" {
		h.fail(w, r, u, http.StatusForbidden, "全县站点同步情况仅县级账号可见")
		return
	}
	if !slices.Contains(chartIDs, id) || format != "svg" && format != "csv" {
		h.fail(w, r, u, http.StatusNotFound, "没有这个图表")
		return
	}
	c, err := h.load(r, u, id)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	if c == nil {
		h.fail(w, r, u, http.StatusNotFound, "没有这个图表")
		return
	}
	names, _ := h.Store.PlaceNames(r.Context())
	c = h.named(c, names)
	if format == "svg" {
		w.Header().Set("Content-Type", "image/svg+xml; charset=utf-8")
		w.Write(drawSVG(c, true))
		return
	}
	h.writeChartCSV(w, r, u, c)
}
