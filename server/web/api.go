package web

import (
	"encoding/json"
	"net/http"

	"stationsync/internal/records"
	"stationsync/server"
	"stationsync/syncproto"
)

// The JSON API: the same lists and records as the pages, with the same
// scope and masking.

func (h *Handler) handleAPIList(w http.ResponseWriter, r *http.Request, u *server.User) {
	kind, ok := kindOf(r.PathValue("kind"))
	if !ok {
		h.fail(w, r, u, http.StatusNotFound, "没有这类记录")
		return
	}
	f := filterOf(r, u)
	if !placeAllowed(u, f.Place) {
		h.fail(w, r, u, http.StatusForbidden, "您只能查看本乡镇的村")
		return
	}
	var rows []map[string]string
	cols := server.Columns(kind)
	total, err := h.Store.List(r.Context(), kind, f, func(row server.Row) error {
		listCells(kind, row.Cells, !u.FullNumbers)
		m := map[string]string{"id": row.ID}
		for i, c := range cols {
			m[c] = row.Cells[i]
		}
		rows = append(rows, m)
		return nil
	})
	if err != nil {
		h.internal(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(map[string]any{"total": total, "rows": rows})
}

func (h *Handler) handleAPIRecord(w http.ResponseWriter, r *http.Request, u *server.User) {
	kind, rec, ok := h.recordOf(w, r, u)
	if !ok {
		return
	}
	if u.FullNumbers && kind == records.Person {
		h.audit(r, u, server.AuditViewFullNums, string(kind)+"/"+rec.ID, "")
	}
	out := rec.Record
	if !u.FullNumbers {
		out.Fields = map[string]json.RawMessage{}
		for k, v := range rec.Record.Fields {
			out.Fields[k] = v
			if isFileField(k) {
				// Hashes are no one's number; masking would break them.
				continue
			}
			var s string
			if json.Unmarshal(v, &s) == nil {
				out.Fields[k] = records.JSONText(displayMask(k, s))
			} else {
				out.Fields[k] = json.RawMessage(maskText(string(v)))
			}
		}
		out.Conflicts = nil
	}
	// The files the record names: which arrived, their size and type,
	// and where staff fetch them (files.go); absent for a person.
	var files []fileView
	if _, ok := fileField[kind]; ok {
		var err error
		// An application's decision documents are listed after its own.
		hashes := append(hashesOf(kind, rec.Record.Fields), hashesIn(rec.Record.Fields, decisionField)...)
		if files, _, err = h.fileViews(r.Context(), hashes, "/files/"); err != nil {
			h.internal(w, r, err)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(struct {
		syncproto.Record
		Files []fileView `json:"files,omitempty"`
	}{out, files})
}
