package web

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"net/http"
	"sort"
	"strconv"
	"time"

	"stationsync/internal/records"
	"stationsync/internal/zone"
	"stationsync/server"
)

// Charts are drawn here as SVG: no chart library, nothing loaded from the
// internet, and the picture is the same in every browser and in print.

var palette = []string{"#2b6cb0", "#dd6b20", "#38a169", "#d53f8c", "#805ad5", "#d69e2e", "#319795", "#e53e3e", "#4a5568", "#9c4221", "#2c7a7b", "#97266d"}

// series is one coloured part of a chart.
type series struct {
	Name   string
	Values []float64
}

func esc(s string) string { return html.EscapeString(s) }

// stackedBars draws one bar per label, stacked by series.
func stackedBars(title string, labels []string, ss []series, unit string) []byte {
	const w, h, left, right, top, bottom = 900, 440, 90, 170, 40, 90
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" font-family="Noto Sans CJK SC, sans-serif" font-size="12" role="img" aria-label="%s">`, w, h, w, h, esc(title))
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#fff"/><text x="%d" y="24" font-size="16" font-weight="bold">%s</text>`, left, esc(title))
	maxV := 0.0
	for i := range labels {
		sum := 0.0
		for _, s := range ss {
			sum += s.Values[i]
		}
		maxV = math.Max(maxV, sum)
	}
	if maxV == 0 {
		maxV = 1
	}
	maxV = niceCeil(maxV)
	if unit == "" && maxV < 4 {
		maxV = 4 // counts: whole numbers on the axis
	}
	plotW, plotH := float64(w-left-right), float64(h-top-bottom)
	for i := 0; i <= 4; i++ {
		y := float64(top) + plotH - plotH*float64(i)/4
		fmt.Fprintf(&b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#e2e8f0"/><text x="%d" y="%.1f" text-anchor="end" fill="#4a5568">%s</text>`,
			left, float64(left)+plotW, y, y, left-6, y+4, esc(fmtNum(maxV*float64(i)/4)+unit))
	}
	n := max(1, len(labels))
	bw := plotW / float64(n)
	for i, l := range labels {
		x := float64(left) + bw*float64(i)
		y := float64(top) + plotH
		for j, s := range ss {
			v := s.Values[i]
			if v <= 0 {
				continue
			}
			hh := plotH * v / maxV
			y -= hh
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s：%s</title></rect>`, x+bw*0.15, y, bw*0.7, hh, palette[j%len(palette)], esc(l), esc(s.Name), esc(fmtNum(v)+unit))
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="end" transform="rotate(-40 %.1f %d)" fill="#2d3748">%s</text>`, x+bw/2, top+int(plotH)+16, x+bw/2, top+int(plotH)+16, esc(l))
	}
	legend(&b, w-right+16, top, ss)
	b.WriteString(`</svg>`)
	return b.Bytes()
}

// lines draws one line per series over the labels.
func lines(title string, labels []string, ss []series, unit string) []byte {
	const w, h, left, right, top, bottom = 900, 380, 60, 170, 40, 70
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" font-family="Noto Sans CJK SC, sans-serif" font-size="12" role="img" aria-label="%s">`, w, h, w, h, esc(title))
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#fff"/><text x="%d" y="24" font-size="16" font-weight="bold">%s</text>`, left, esc(title))
	maxV := 0.0
	for _, s := range ss {
		for _, v := range s.Values {
			maxV = math.Max(maxV, v)
		}
	}
	if maxV == 0 {
		maxV = 1
	}
	maxV = niceCeil(maxV)
	if unit == "" && maxV < 4 {
		maxV = 4 // counts: whole numbers on the axis
	}
	plotW, plotH := float64(w-left-right), float64(h-top-bottom)
	for i := 0; i <= 4; i++ {
		y := float64(top) + plotH - plotH*float64(i)/4
		fmt.Fprintf(&b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#e2e8f0"/><text x="%d" y="%.1f" text-anchor="end" fill="#4a5568">%s</text>`,
			left, float64(left)+plotW, y, y, left-6, y+4, esc(fmtNum(maxV*float64(i)/4)+unit))
	}
	n := len(labels)
	step := plotW / float64(max(1, n-1))
	every := max(1, n/12)
	for i, l := range labels {
		if i%every == 0 || i == n-1 {
			x := float64(left) + step*float64(i)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="end" transform="rotate(-40 %.1f %d)" fill="#2d3748">%s</text>`, x, top+int(plotH)+16, x, top+int(plotH)+16, esc(l))
		}
	}
	for j, s := range ss {
		var pts bytes.Buffer
		for i, v := range s.Values {
			fmt.Fprintf(&pts, "%.1f,%.1f ", float64(left)+step*float64(i), float64(top)+plotH-plotH*v/maxV)
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2.5" points="%s"><title>%s</title></polyline>`, palette[j%len(palette)], pts.String(), esc(s.Name))
		for i, v := range s.Values {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s %s：%s</title></circle>`, float64(left)+step*float64(i), float64(top)+plotH-plotH*v/maxV, palette[j%len(palette)], esc(labels[i]), esc(s.Name), esc(fmtNum(v)+unit))
		}
	}
	legend(&b, w-right+16, top, ss)
	b.WriteString(`</svg>`)
	return b.Bytes()
}

func legend(b *bytes.Buffer, x, y int, ss []series) {
	for j, s := range ss {
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>`, x, y+j*20, palette[j%len(palette)], x+18, y+j*20+11, esc(s.Name))
	}
}

func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func fmtNum(v float64) string {
	if v == math.Trunc(v) {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// months returns the n months up to and including now's, as 2006-01.
func months(now time.Time, n int) []string {
	out := make([]string, n)
	first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, now.Location())
	for i := range n {
		out[i] = first.AddDate(0, i-n+1, 0).Format("2006-01")
	}
	return out
}

func (h *Handler) placeName(names map[string]string, code string) string {
	if n := server.PlaceName(names, code); n != "" {
		return n
	}
	return code
}

// topSeries keeps the k largest series and sums the rest as 其他.
func topSeries(ss []series, k int) []series {
	total := func(s series) float64 {
		t := 0.0
		for _, v := range s.Values {
			t += v
		}
		return t
	}
	sort.SliceStable(ss, func(i, j int) bool { return total(ss[i]) > total(ss[j]) })
	if len(ss) <= k {
		return ss
	}
	rest := series{Name: "其他", Values: make([]float64, len(ss[0].Values))}
	for _, s := range ss[k-1:] {
		for i, v := range s.Values {
			rest.Values[i] += v
		}
	}
	return append(ss[:k-1], rest)
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

func (h *Handler) chart(r *http.Request, u *server.User, name string) ([]byte, error) {
	ctx := r.Context()
	now := h.today()
	names, _ := h.Store.PlaceNames(ctx)
	switch name {
	case "visits.svg":
		ms := months(now, 12)
		counts, err := h.Store.VisitsByMonth(ctx, u.Scope(), ms[0])
		if err != nil {
			return nil, err
		}
		idx := indexOf(ms)
		by := map[string][]float64{}
		var order []string
		for _, c := range counts {
			if _, ok := by[c.Key]; !ok {
				by[c.Key] = make([]float64, len(ms))
				order = append(order, c.Key)
			}
			if i, ok := idx[c.Sub]; ok {
				by[c.Key][i] += float64(c.N)
			}
		}
		var ss []series
		for _, t := range order {
			ss = append(ss, series{Name: h.placeName(names, t), Values: by[t]})
		}
		return stackedBars("近12个月各乡镇走访次数", ms, topSeries(ss, 10), ""), nil
	case "coverage.svg":
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
		labels := make([]string, len(ts))
		s := series{Name: "本季度已走访比例", Values: make([]float64, len(ts))}
		for i, t := range ts {
			labels[i] = h.placeName(names, t)
			if all[t] > 0 {
				s.Values[i] = math.Round(1000*vis[t]/all[t]) / 10
			}
		}
		return stackedBars(fmt.Sprintf("走访覆盖率（%s起本季度已走访的在册对象占比）", qs.Format("2006-01-02")), labels, []series{s}, "%"), nil
	case "applications.svg":
		counts, err := h.Store.ApplicationsByTypeStatus(ctx, u.Scope())
		if err != nil {
			return nil, err
		}
		return stackedBars("救助申请：按类型和状态", records.AssistanceTypes, byStatus(counts, records.AssistanceTypes), ""), nil
	case "applications-months.svg":
		ms := months(now, 12)
		from, _ := time.ParseInLocation("2006-01", ms[0], zone.Location())
		counts, err := h.Store.ApplicationsByMonth(ctx, u.Scope(), from)
		if err != nil {
			return nil, err
		}
		return stackedBars("近12个月新申请（按当前状态）", ms, byStatus(counts, ms), ""), nil
	case "health.svg":
		hist, err := h.Store.HealthHistory(ctx, now.AddDate(0, 0, -90))
		if err != nil {
			return nil, err
		}
		var labels []string
		ss := []series{{Name: "站点总数"}, {Name: "24小时内同步"}, {Name: "7天内同步"}, {Name: "失联"}}
		for _, d := range hist {
			labels = append(labels, d.Day[5:])
			ss[0].Values = append(ss[0].Values, float64(d.Stations))
			ss[1].Values = append(ss[1].Values, float64(d.Synced1d))
			ss[2].Values = append(ss[2].Values, float64(d.Synced7d))
			ss[3].Values = append(ss[3].Values, float64(d.Silent))
		}
		return lines("站点同步情况（近90天，每日记录；全县）", labels, ss, ""), nil
	}
	return nil, nil
}

func (h *Handler) handleGetChart(w http.ResponseWriter, r *http.Request, u *server.User) {
	if r.PathValue("chart") == "health.svg" && u.Scope() != "" {
		h.fail(w, r, u, http.StatusForbidden, "全县站点同步情况仅县级账号可见")
		return
	}
	v, err := h.Store.DataVersion(r.Context())
	if err != nil {
		h.internal(w, r, err)
		return
	}
	key := fmt.Sprintf("%s|%s|%s|%d", r.PathValue("chart"), u.Scope(), zone.Today(h.Now()), v)
	h.chartMu.Lock()
	svg, ok := h.charts[key]
	h.chartMu.Unlock()
	if !ok {
		svg, err = h.chart(r, u, r.PathValue("chart"))
		if err == nil && svg != nil && r.PathValue("chart") != "health.svg" {
			h.chartMu.Lock()
			if h.charts == nil || len(h.charts) > 200 {
				h.charts = map[string][]byte{}
			}
			h.charts[key] = svg
			h.chartMu.Unlock()
		}
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	if svg == nil {
		h.fail(w, r, u, http.StatusNotFound, "没有这个图表")
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml; charset=utf-8")
	w.Write(svg)
}

func (h *Handler) handleGetReports(w http.ResponseWriter, r *http.Request, u *server.User) {
	h.snapshotHealth(r, h.silentDays(r))
	charts := []string{"visits.svg", "coverage.svg", "applications.svg", "applications-months.svg"}
	if u.Scope() == "" {
		charts = append(charts, "health.svg")
	}
	h.render(w, r, http.StatusOK, "reports", page{Title: "报表", Nav: "reports", Data: map[string]any{"Charts": charts}})
}
