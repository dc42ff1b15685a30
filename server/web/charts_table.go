package web

import (
	"encoding/csv"
	"net/http"
	"net/url"

	"stationsync/internal/zone"
	"stationsync/server"
)

// table is the chart's numbers as the page shows them under the picture
// and the CSV holds them, cell for cell: a row per label; the table-only
// columns, a column per series, then 合计.
func (c *chart) table() (head []string, rows [][]string) {
	head = append(head, c.Corner)
	for _, s := range c.Extra {
		head = append(head, s.Name)
	}
	for _, s := range c.Series {
		head = append(head, s.Name)
	}
	if c.Total {
		head = append(head, "合计")
	}
	for i, l := range c.Labels {
		row := []string{l}
		for _, s := range c.Extra {
			row = append(row, count(s.Values[i]))
		}
		for _, s := range c.Series {
			row = append(row, c.num(s.Values[i]))
		}
		if c.Total {
			row = append(row, c.num(c.stack(i)))
		}
		rows = append(rows, row)
	}
	return head, rows
}

// caption says what the table's numbers are; the chart's title is just
// above.
func (c *chart) caption() string {
	if c.Pct {
		return "数字表"
	}
	return "数字表，单位：" + c.Word
}

// writeChartCSV answers the table as CSV, as the exports do: a byte order
// mark (Excel on Windows reads Chinese without it as GBK), every cell
// through csvSafe (a place name typed in the settings could start with =),
// the download audited, the file stamped in China time.
func (h *Handler) writeChartCSV(w http.ResponseWriter, r *http.Request, u *server.User, c *chart) {
	head, rows := c.table()
	file := "报表_" + c.File + "_" + zone.In(h.Now()).Format("20060102_1504") + ".csv"
	h.audit(r, u, server.AuditExport, "reports/"+c.ID, "csv")
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", "attachment; filename*=UTF-8''"+url.PathEscape(file))
	w.Write([]byte("\ufeff"))
	cw := csv.NewWriter(w)
	for _, row := range append([][]string{head}, rows...) {
		cells := make([]string, len(row))
		for i, s := range row {
			cells[i] = csvSafe(s)
		}
		cw.Write(cells)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		h.Logger.Error("report csv", "chart", c.ID, "err", err)
	}
}
