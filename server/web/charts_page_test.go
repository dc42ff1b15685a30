package web_test

import (
	"context"
	"crypto/ed25519"
	"encoding/csv"
	"encoding/xml"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"stationsync/internal/gen"
	"stationsync/internal/hlc"
	"stationsync/internal/records"
	"stationsync/internal/testlog"
	"stationsync/internal/zone"
	"stationsync/syncproto"
)

// xnode is an element of an SVG or table fragment, read as XML (the
// pages write both well-formed).
type xnode struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Nodes   []xnode    `xml:",any"`
	Text    string     `xml:",chardata"`
}

func (n *xnode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// all returns the elements under n (n too) named name with class class
// ("" for any).
func (n *xnode) all(name, class string) []*xnode {
	var out []*xnode
	var walk func(*xnode)
	walk = func(x *xnode) {
		if x.XMLName.Local == name && (class == "" || slices.Contains(strings.Fields(x.attr("class")), class)) {
			out = append(out, x)
		}
		for i := range x.Nodes {
			walk(&x.Nodes[i])
		}
	}
	walk(n)
	return out
}

// text is the text of n and everything in it.
func (n *xnode) text() string {
	s := n.Text
	for i := range n.Nodes {
		s += n.Nodes[i].text()
	}
	return strings.TrimSpace(s)
}

// fragment reads the first element of body that starts with open and
// ends with the first close after it.
func fragment(t *testing.T, body, open, close string) *xnode {
	t.Helper()
	i := strings.Index(body, open)
	if i < 0 {
		t.Fatalf("no %s in:\n%.500s", open, body)
	}
	j := strings.Index(body[i:], close)
	if j < 0 {
		t.Fatalf("%s is not closed", open)
	}
	var n xnode
	if err := xml.Unmarshal([]byte(body[i:i+j+len(close)]), &n); err != nil {
		t.Fatalf("%s does not parse: %v\n%.800s", open, err, body[i:i+j+len(close)])
	}
	return &n
}

// shownChart is one report as the page shows it.
type shownChart struct {
	id     string
	svg    *xnode
	legend []string
	head   []string
	rows   [][]string
}

// reportsPage reads every chart of the reports page.
func reportsPage(t *testing.T, c *client) (string, []shownChart) {
	t.Helper()
	r := c.get("/reports")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET /reports: %d %.300s", r.StatusCode, r.body)
	}
	var out []shownChart
	parts := strings.Split(r.body, `<figure class="chart" id="chart-`)
	for _, p := range parts[1:] {
		p = p[:strings.Index(p, "</figure>")]
		sc := shownChart{id: p[:strings.Index(p, `"`)]}
		sc.svg = fragment(t, p, `<svg xmlns="http://www.w3.org/2000/svg" class="chart-pic"`, "</svg>")
		if strings.Contains(p, `<ul class="legend"`) {
			for _, li := range fragment(t, p, `<ul class="legend"`, "</ul>").all("li", "") {
				sc.legend = append(sc.legend, li.text())
			}
		}
		tbl := fragment(t, p, `<table class="grid chart-data">`, "</table>")
		for _, tr := range tbl.all("tr", "") {
			var cells []string
			for _, c := range tr.Nodes {
				cells = append(cells, c.text())
			}
			if tr == tbl.all("tr", "")[0] {
				sc.head = cells
			} else {
				sc.rows = append(sc.rows, cells)
			}
		}
		out = append(out, sc)
	}
	return r.body, out
}

// cell is the table's cell at the row labelled row and the column headed
// col, and whether there is one.
func (sc *shownChart) cell(row, col string) (string, bool) {
	j := slices.Index(sc.head, col)
	for _, r := range sc.rows {
		if r[0] == row && j > 0 {
			return r[j], true
		}
	}
	return "", false
}

// chartFixture is the two-township fixture with the rich village, every
// township named (one typed, one from the official table, 三河镇, which
// the rich seed renames 甲镇, and one typed here), and a station in 官亭镇
// (340123103, named by the table alone) whose visits this month are two
// real ones, one blank and one voided.
func chartFixture(t *testing.T) (*fixture, *testlog.Errors) {
	t.Helper()
	log := &testlog.Errors{}
	f := newFixtureLogged(t, slog.New(log))
	f.seedRich(12)
	ctx := context.Background()
	if err := f.store.SetPlaceName(ctx, townB, "乙镇"); err != nil {
		t.Fatal(err)
	}
	const vill = "340123103201"
	code, err := f.store.CreateCode(ctx, vill, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	stn, err := f.store.Enroll(ctx, code, pub, "pc-guanting", "test")
	if err != nil {
		t.Fatal(err)
	}
	g := gen.New(77)
	bt := &batcher{b: &syncproto.Batch{Version: syncproto.Version, Station: stn.ID, Epoch: "e1", Village: vill}, h: hlc.FromTime(time.Now().Add(-time.Hour))}
	today := zone.Today(time.Now())
	var pids []string
	for i := range 3 {
		pid := vill + "_p" + strconv.Itoa(i) + "xxxxxxx"
		p := g.Person(vill)
		p["status"] = "在册"
		bt.add(records.Person, pid, records.OpUpsert, p)
		pids = append(pids, pid)
	}
	for i, pid := range pids[:2] {
		v := g.Visit(pid, time.Now())
		v["visited_on"] = today
		bt.add(records.Visit, vill+"_v"+strconv.Itoa(i)+"xxxxxxx", records.OpUpsert, v)
	}
	// The third person: a visit saved untouched by an older station, and
	// one recorded by mistake and voided.
	bt.add(records.Visit, vill+"_vbxxxxxxx", records.OpUpsert, map[string]any{"person_id": pids[2], "visited_on": today,
		"visitors": []string{"王芳"}, "method": "入户走访", "risk": "正常", "needs": []string{}, "situation": " \n　"})
	voided := g.Visit(pids[2], time.Now())
	voided["visited_on"] = today
	bt.add(records.Visit, vill+"_vvxxxxxxx", records.OpUpsert, voided)
	bt.add(records.Visit, vill+"_vvxxxxxxx", records.OpUpsert, map[string]any{"void_reason": "录错了走访对象"})
	// An application made this month (the station's clock says when; the
	// other seeds leave it out).
	app := g.Application(pids[0], g.Person(vill))
	app["type"] = "临时救助"
	bt.add(records.Application, vill+"_a0xxxxxxx", records.OpUpsert, app)
	bt.add(records.Application, vill+"_a0xxxxxxx", records.OpSubmit, nil)
	for i := range bt.b.Changes {
		bt.b.Changes[i].At = time.Now().UnixMilli()
	}
	res, err := f.store.Push(ctx, stn, bt.b)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range res.Results {
		if x.Status != syncproto.Applied {
			t.Fatalf("change %d: %s %s", x.Seq, x.Code, x.Reason)
		}
	}
	return f, log
}

var codeRun = regexp.MustCompile(`\d{9,12}`)

// TestReportsChartsReadable: the reports page draws every chart inline
// (no <img>), each bar and point with a <title> tooltip; count axes tick
// in whole numbers; townships are named in the legend, the labels and
// the table; each chart's table holds exactly the chart's numbers (bar
// heights included), and its CSV is that table. Before: <img
// src=…svg>, ticks of 2.5 people, and no table or CSV.
func TestReportsChartsReadable(t *testing.T) {
	f, log := chartFixture(t)
	for _, user := range []string{"admin", "county", "towna"} {
		t.Run(user, func(t *testing.T) {
			c := f.login(user)
			body, charts := reportsPage(t, c)
			if strings.Contains(body, `<img src="/reports/`) {
				t.Error("charts are still images: their tooltips do not work")
			}
			want := []string{"visits", "coverage", "applications", "applications-months"}
			if user != "towna" {
				want = append(want, "health")
			}
			var got []string
			for _, sc := range charts {
				got = append(got, sc.id)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("charts %v, want %v", got, want)
			}
			for _, sc := range charts {
				checkChart(t, c, user, &sc)
			}
			if user != "towna" {
				visits := charts[0]
				for _, name := range []string{"甲镇", "乙镇", "官亭镇"} {
					if !slices.Contains(visits.legend, name) || !slices.Contains(visits.head, name) {
						t.Errorf("visits chart: legend %v, table %v lack %s", visits.legend, visits.head, name)
					}
				}
				for _, name := range []string{"甲镇", "乙镇", "官亭镇"} {
					if _, ok := charts[1].cell(name, "覆盖率（%）"); !ok {
						t.Errorf("coverage table has no row %s: %v", name, charts[1].rows)
					}
				}
			}
		})
	}
	if errs := log.Take(); len(errs) > 0 {
		t.Errorf("the server logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

func checkChart(t *testing.T, c *client, user string, sc *shownChart) {
	t.Helper()
	name := user + " " + sc.id
	marks := append(sc.svg.all("rect", "bar"), sc.svg.all("circle", "pt")...)
	if len(marks) == 0 && !strings.Contains(sc.svg.text(), "暂无数据") {
		t.Errorf("%s: nothing drawn, and no 暂无数据 either", name)
	}
	// Ticks: whole numbers for counts, from 0 in equal whole steps,
	// reaching the tallest bar.
	var ticks []float64
	for _, tx := range sc.svg.all("text", "tick") {
		v, err := strconv.ParseFloat(tx.text(), 64)
		if err != nil {
			t.Fatalf("%s: tick %q", name, tx.text())
		}
		if sc.id != "coverage" && v != math.Trunc(v) {
			t.Errorf("%s: count axis tick %v is not a whole number", name, v)
		}
		ticks = append(ticks, v)
	}
	if len(ticks) < 2 || ticks[0] != 0 {
		t.Fatalf("%s: ticks %v", name, ticks)
	}
	step, top := ticks[1]-ticks[0], ticks[len(ticks)-1]
	for i := range ticks {
		if ticks[i] != step*float64(i) {
			t.Errorf("%s: ticks %v are not equal steps", name, ticks)
			break
		}
	}
	if sc.id != "coverage" && step != math.Trunc(step) {
		t.Errorf("%s: step %v", name, step)
	}
	hit := sc.svg.all("rect", "hit")
	plotH, _ := strconv.ParseFloat(hit[0].attr("height"), 64)
	serieses := map[string]bool{}
	for _, m := range marks {
		l, s, v := m.attr("data-l"), m.attr("data-s"), m.attr("data-v")
		serieses[s] = true
		tips := m.all("title", "")
		if len(tips) != 1 || !strings.Contains(tips[0].text(), l) || !strings.Contains(tips[0].text(), s) || !strings.Contains(tips[0].text(), v) {
			t.Errorf("%s: the mark %s/%s=%s has the tooltip %v", name, l, s, v, tips)
		}
		if sc.id == "visits" || sc.id == "coverage" {
			if codeRun.MatchString(l + s) {
				t.Errorf("%s: a mark is named by a code: %q %q", name, l, s)
			}
		}
		cell, ok := sc.cell(l, s)
		if !ok || cell != v {
			t.Errorf("%s: the chart has %s/%s = %s, the table %q (found %v)", name, l, s, v, cell, ok)
		}
		fv, _ := strconv.ParseFloat(v, 64)
		if fv > top {
			t.Errorf("%s: %s/%s = %v above the axis' top %v", name, l, s, fv, top)
		}
		if m.XMLName.Local == "rect" {
			h, _ := strconv.ParseFloat(m.attr("height"), 64)
			if drawn := h / plotH * top; math.Abs(drawn-fv) > top/500 {
				t.Errorf("%s: %s/%s drawn as %.2f, is %v", name, l, s, drawn, fv)
			}
		}
	}
	// Every number of a series' column is drawn (zeros as no bar), 合计
	// adds the row up, and no column is named by a code.
	for _, h := range sc.head {
		if (sc.id == "visits" || sc.id == "coverage") && codeRun.MatchString(h) {
			t.Errorf("%s: table column %q is a code", name, h)
		}
	}
	for _, l := range sc.legend {
		if !serieses[l] {
			t.Errorf("%s: legend %q is no series drawn (%v)", name, l, serieses)
		}
	}
	for _, row := range sc.rows {
		if (sc.id == "visits" || sc.id == "coverage") && codeRun.MatchString(row[0]) {
			t.Errorf("%s: row %q is a code", name, row[0])
		}
		sum := 0.0
		for j, h := range sc.head {
			if !serieses[h] || j == 0 {
				continue
			}
			v, _ := strconv.ParseFloat(row[j], 64)
			sum += v
			found := false
			for _, m := range marks {
				found = found || m.attr("data-l") == row[0] && m.attr("data-s") == h
			}
			if v != 0 && !found {
				t.Errorf("%s: the table's %s/%s = %v is not drawn", name, row[0], h, v)
			}
		}
		if j := slices.Index(sc.head, "合计"); j > 0 && row[j] != strconv.FormatFloat(sum, 'f', -1, 64) {
			t.Errorf("%s: 合计 of %s is %s, the row adds up to %v", name, row[0], row[j], sum)
		}
	}
	// The CSV is the table.
	r := c.get("/reports/" + sc.id + ".csv")
	if r.StatusCode != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") || !strings.Contains(r.Header.Get("Content-Disposition"), ".csv") {
		t.Fatalf("%s.csv: %d %s %s", name, r.StatusCode, r.Header.Get("Content-Type"), r.Header.Get("Content-Disposition"))
	}
	if !strings.HasPrefix(r.body, "\ufeff") {
		t.Errorf("%s.csv has no byte order mark: Excel would read GBK", name)
	}
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(r.body, "\ufeff"))).ReadAll()
	if err != nil {
		t.Fatalf("%s.csv: %v", name, err)
	}
	if want := append([][]string{sc.head}, sc.rows...); !slices.EqualFunc(recs, want, slices.Equal) {
		t.Errorf("%s.csv is not the table:\n csv %v\ntable %v", name, recs, want)
	}
}
