package web

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"encoding/csv"
	"github.com/xuri/excelize/v2"

	"stationsync/internal/zone"
	"stationsync/server"
)

// Exports stream: rows go from the SQLite cursor to the response (CSV) or
// to excelize's StreamWriter, which spills to a temporary file past a small
// buffer, so exporting 100,000 rows holds neither all rows nor the whole
// workbook in memory.

type rowWriter interface {
	header(cols []string) error
	row(cells []string) error
	close() error
}

type csvWriter struct {
	w  *csv.Writer
	hw http.ResponseWriter
	n  int
}

func (c *csvWriter) header(cols []string) error {
	// A UTF-8 byte order mark, or Excel on Windows reads the Chinese as
	// GBK and shows mojibake.
	c.hw.Write([]byte("\ufeff"))
	return c.w.Write(cols)
}

func (c *csvWriter) row(cells []string) error {
	// A cell a spreadsheet would read as a formula is quoted (csvSafe).
	for i, s := range cells {
		cells[i] = csvSafe(s)
	}
	if err := c.w.Write(cells); err != nil {
		return err
	}
	c.n++
	if c.n%1000 == 0 {
		c.w.Flush()
		if f, ok := c.hw.(http.Flusher); ok {
			f.Flush()
		}
	}
	return nil
}

func (c *csvWriter) close() error {
	c.w.Flush()
	return c.w.Error()
}

type xlsxWriter struct {
	f   *excelize.File
	sw  *excelize.StreamWriter
	out io.Writer
	n   int
	buf []any
}

func newXLSX(out io.Writer, sheet string) (*xlsxWriter, error) {
	f := excelize.NewFile()
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return nil, err
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return nil, err
	}
	return &xlsxWriter{f: f, sw: sw, out: out}, nil
}

func (x *xlsxWriter) header(cols []string) error {
	x.sw.SetColWidth(1, len(cols), 16)
	return x.row(cols)
}

func (x *xlsxWriter) row(cells []string) error {
	x.n++
	x.buf = x.buf[:0]
	for _, c := range cells {
		x.buf = append(x.buf, c)
	}
	cell, err := excelize.CoordinatesToCellName(1, x.n)
	if err != nil {
		return err
	}
	return x.sw.SetRow(cell, x.buf)
}

func (x *xlsxWriter) close() error {
	defer x.f.Close()
	if err := x.sw.Flush(); err != nil {
		return err
	}
	return x.f.Write(x.out)
}

func (h *Handler) handleGetExport(w http.ResponseWriter, r *http.Request, u *server.User) {
	name := r.PathValue("kind")
	format := "csv"
	switch {
	case strings.HasSuffix(name, ".csv"):
		name = strings.TrimSuffix(name, ".csv")
	case strings.HasSuffix(name, ".xlsx"):
		name, format = strings.TrimSuffix(name, ".xlsx"), "xlsx"
	default:
		h.fail(w, r, u, http.StatusNotFound, "导出格式只能是 .csv 或 .xlsx")
		return
	}
	q := r.URL.Query()
	var cols []string
	var label string
	var run func(fn func(server.Row) error) error
	mask := !u.FullNumbers
	if name == "followup" {
		k := followKind(q.Get("k"))
		place := strings.TrimSpace(q.Get("place"))
		if !placeAllowed(u, place) {
			h.fail(w, r, u, http.StatusForbidden, "您只能导出本乡镇的数据")
			return
		}
		cols, label = server.FollowUpColumns(k), followLabels[k]
		run = func(fn func(server.Row) error) error {
			_, err := h.Store.FollowUp(r.Context(), k, u.Scope(), place, h.today(), -1, 0, func(row server.Row) error {
				followCells(k, row.Cells, mask)
				return fn(row)
			})
			return err
		}
	} else {
		kind, ok := kindOf(name)
		if !ok {
			h.fail(w, r, u, http.StatusNotFound, "没有这类记录")
			return
		}
		f := filterOf(r, u)
		if !placeAllowed(u, f.Place) {
			h.fail(w, r, u, http.StatusForbidden, "您只能导出本乡镇的数据")
			return
		}
		f.Limit, f.Offset = -1, 0
		cols, label = server.Columns(kind), kindLabel(kind)
		run = func(fn func(server.Row) error) error {
			_, err := h.Store.List(r.Context(), kind, f, func(row server.Row) error {
				listCells(kind, row.Cells, mask)
				return fn(row)
			})
			return err
		}
	}
	file := fmt.Sprintf("%s_%s.%s", label, zone.In(h.Now()).Format("20060102_1504"), format)
	q.Del("msg")
	detail := format + " " + q.Encode()
	if !mask {
		detail += " 含完整号码"
	}
	h.audit(r, u, server.AuditExport, name, detail)
	w.Header().Set("Content-Disposition", "attachment; filename*=UTF-8''"+url.PathEscape(file))
	var rw rowWriter
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		rw = &csvWriter{w: csv.NewWriter(w), hw: w}
	} else {
		w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
		x, err := newXLSX(w, truncRunes(label, 30))
		if err != nil {
			h.internal(w, r, err)
			return
		}
		rw = x
	}
	start := time.Now()
	full := append([]string{"编号"}, cols...)
	if err := rw.header(full); err != nil {
		h.Logger.Error("export", "err", err)
		return
	}
	cells := make([]string, len(full))
	n := 0
	err := run(func(row server.Row) error {
		cells[0] = row.ID
		copy(cells[1:], row.Cells)
		n++
		return rw.row(cells)
	})
	if err == nil {
		err = rw.close()
	}
	if err != nil {
		// The header is gone already; the download ends short and the
		// browser reports it failed.
		h.Logger.Error("export failed", "kind", name, "rows", n, "err", err)
		return
	}
	h.Logger.Info("export", "user", u.Username, "kind", name, "format", format, "rows", n, "took", time.Since(start))
}

func truncRunes(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}
