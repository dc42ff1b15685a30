package web_test

import (
	"bytes"
	"encoding/csv"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

var (
	listTableRe = regexp.MustCompile(`(?s)<table class="grid" id="list">.*?</table>`)
	trRe        = regexp.MustCompile(`(?s)<tr>(.*?)</tr>`)
	tdRe        = regexp.MustCompile(`(?s)<td[^>]*>(.*?)</td>`)
	recLinkRe   = regexp.MustCompile(`href="/records/[a-z]+/([^"]+)"`)
	tagRe       = regexp.MustCompile(`<[^>]*>`)
	totalRe     = regexp.MustCompile(`<small>共 (\d+) 条</small>`)
	nextRe      = regexp.MustCompile(`<a href="([^"]*)">下一页</a>`)
	csvLinkRe   = regexp.MustCompile(`href="(/export/[a-z]+\.csv[^"]*)"`)
	xlsxLinkRe  = regexp.MustCompile(`href="(/export/[a-z]+\.xlsx[^"]*)"`)
	tabsRe      = regexp.MustCompile(`(?s)<nav class="tabs">(.*?)</nav>`)
	filtersRe   = regexp.MustCompile(`(?s)<form method="get" class="filters"[^>]*>(.*?)</form>`)
	selectRe    = regexp.MustCompile(`(?s)<select name="([a-z]+)"[^>]*>(.*?)</select>`)
	optionRe    = regexp.MustCompile(`<option(?: value="([^"]*)")?[^>]*>([^<]*)</option>`)
)

// pageRow is one row of a list as the page shows it.
type pageRow struct {
	id    string
	cells []string // text of each cell, after the selection box
}

func text(s string) string {
	return strings.TrimSpace(html.UnescapeString(tagRe.ReplaceAllString(s, "")))
}

// listRows reads the rows of a list page.
func listRows(body string) []pageRow {
	var out []pageRow
	for _, tr := range trRe.FindAllStringSubmatch(listTableRe.FindString(body), -1) {
		m := recLinkRe.FindStringSubmatch(tr[1])
		if m == nil {
			continue // the header, or "没有符合条件的记录"
		}
		r := pageRow{id: html.UnescapeString(m[1])}
		for _, td := range tdRe.FindAllStringSubmatch(tr[1], -1) {
			if strings.Contains(td[1], `type="checkbox"`) {
				continue
			}
			r.cells = append(r.cells, text(td[1]))
		}
		out = append(out, r)
	}
	return out
}

// allPages follows a list's 下一页 links from path and returns every row
// the pages show, and the total the first page states.
func (c *client) allPages(path string) (rows []pageRow, total int, first string) {
	c.t.Helper()
	for n := 0; path != "" && n < 100; n++ {
		r := c.get(path)
		if r.StatusCode != http.StatusOK {
			c.t.Fatalf("GET %s: %d %.300s", path, r.StatusCode, r.body)
		}
		if n == 0 {
			first = r.body
			m := totalRe.FindStringSubmatch(r.body)
			if m == nil {
				c.t.Fatalf("GET %s: no total", path)
			}
			total, _ = strconv.Atoi(m[1])
		}
		rows = append(rows, listRows(r.body)...)
		cur, _ := url.Parse(c.f.http.URL + path)
		path = ""
		if m := nextRe.FindStringSubmatch(r.body); m != nil {
			next, err := cur.Parse(html.UnescapeString(m[1]))
			if err != nil {
				c.t.Fatal(err)
			}
			path = next.RequestURI()
		}
	}
	return rows, total, first
}

// variants lists a list page's own filters: each tab, each choice of each
// select of its filter form, a name and a date range where it has them,
// and a combination; each keeps the page's hidden fields.
func variants(base, body, name string) []string {
	bu, _ := url.Parse(base)
	with := func(kv ...string) string {
		q := bu.Query()
		for i := 0; i < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		return bu.Path + "?" + q.Encode()
	}
	out := []string{base}
	if m := tabsRe.FindStringSubmatch(body); m != nil {
		for _, h := range hrefRe.FindAllStringSubmatch(m[1], -1) {
			out = append(out, html.UnescapeString(h[1]))
		}
	}
	form := filtersRe.FindStringSubmatch(body)
	if form == nil {
		return out
	}
	for _, sel := range selectRe.FindAllStringSubmatch(form[1], -1) {
		for _, o := range optionRe.FindAllStringSubmatch(sel[2], -1) {
			v := html.UnescapeString(o[2])
			if strings.Contains(o[0], "value=") {
				v = html.UnescapeString(o[1])
			}
			if v != "" {
				out = append(out, with(sel[1], v))
			}
		}
	}
	if strings.Contains(form[1], `name="q"`) {
		out = append(out, with("q", name), with("q", name, "place", richVill))
	}
	if strings.Contains(form[1], `name="from"`) {
		out = append(out, with("from", time.Now().AddDate(0, 0, -30).Format(time.DateOnly), "to", time.Now().Format(time.DateOnly)))
	}
	return out
}

func readCSV(t *testing.T, body string) [][]string {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(body, "\ufeff"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func readXLSX(t *testing.T, body string) [][]string {
	t.Helper()
	x, err := excelize.OpenReader(bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	rows, err := x.GetRows(x.GetSheetName(0))
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// unquote undoes the CSV's guard against formulas, which the page does not
// need.
func unquote(s string) string {
	if len(s) > 1 && s[0] == '\'' && strings.ContainsRune("=+-@", rune(s[1])) {
		return s[1:]
	}
	return s
}

// TestExportsHoldThePagesRows: for every list page and every filter and
// tab it offers, the CSV and Excel links on the page export exactly the
// rows the page shows over all its pages (same records, same order, same
// cells), as many as the page's total.
func TestExportsHoldThePagesRows(t *testing.T) {
	f := newFixture(t)
	r := f.seedRich(60)
	name := []rune(r.names[3])
	checked := 0
	for _, user := range []string{"county", "towna"} {
		c := f.login(user)
		for _, base := range []string{"/records/person", "/records/visit", "/records/application", "/records/disclosure",
			"/applications?status=submitted", "/followup?k=overdue", "/followup?k=urgent", "/followup?k=review"} {
			seen := map[string]bool{}
			for _, v := range variants(base, c.get(base).body, string(name[:1])) {
				if seen[v] {
					continue
				}
				seen[v] = true
				rows, total, first := c.allPages(v)
				if len(rows) != total {
					t.Errorf("%s %s: the pages show %d rows, the page says 共 %d 条", user, v, len(rows), total)
				}
				for _, re := range []*regexp.Regexp{csvLinkRe, xlsxLinkRe} {
					m := re.FindStringSubmatch(first)
					if m == nil {
						t.Fatalf("%s %s: no export link", user, v)
					}
					link := html.UnescapeString(m[1])
					resp := c.get(link)
					if resp.StatusCode != http.StatusOK {
						t.Fatalf("%s GET %s: %d", user, link, resp.StatusCode)
					}
					var got [][]string
					if re == csvLinkRe {
						got = readCSV(t, resp.body)
					} else {
						got = readXLSX(t, resp.body)
					}
					got = got[1:]
					if len(got) != total {
						t.Errorf("%s %s: export %s has %d rows, the page %d", user, v, link, len(got), total)
						continue
					}
					for i, row := range rows {
						e := got[i]
						for len(e) < 1+len(row.cells) {
							e = append(e, "") // a spreadsheet drops empty trailing cells
						}
						want := append([]string{row.id}, row.cells...)
						// Cell 0 of the page names the village; the export has its code.
						if !strings.Contains(want[1], e[1]) {
							t.Errorf("%s %s: row %d village %q, page %q", user, link, i, e[1], want[1])
						}
						want[1] = e[1]
						if want[2] == "（无）" {
							want[2] = ""
						}
						for j := range e {
							e[j] = unquote(e[j])
						}
						if !slices.Equal(e[:len(want)], want) {
							t.Errorf("%s %s: row %d\nexport %q\npage   %q", user, link, i, e, want)
							break
						}
					}
					checked++
				}
			}
		}
	}
	t.Logf("%d exports checked against their pages", checked)
	if checked < 100 {
		t.Errorf("only %d exports checked", checked)
	}
}
