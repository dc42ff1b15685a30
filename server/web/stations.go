package web

import (
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"stationsync/internal/zone"
	"stationsync/server"
	"stationsync/syncproto"
)

// The stations page: who is enrolled, who has gone silent and why a
// station last failed; enrollment codes, revocation and place names.

type stationRow struct {
	server.Station
	Silent    bool
	LastError string
}

func (h *Handler) handleGetStations(w http.ResponseWriter, r *http.Request, u *server.User) {
	h.stationsPage(w, r, u, "", "")
}

func (h *Handler) stationsPage(w http.ResponseWriter, r *http.Request, u *server.User, code, codeVillage string) {
	list, err := h.Store.StationsIn(r.Context(), u.Scope())
	if err != nil {
		h.internal(w, r, err)
		return
	}
	errs, err := h.Store.LastErrors(r.Context())
	if err != nil {
		h.internal(w, r, err)
		return
	}
	days := h.Store.SilentDays(r.Context())
	h.snapshotHealth(r, days)
	silent := h.Now().Add(-time.Duration(days) * 24 * time.Hour)
	var rows []stationRow
	for _, st := range list {
		rows = append(rows, stationRow{Station: st, Silent: st.RevokedAt == nil && (st.LastContactAt == nil || st.LastContactAt.Before(silent)), LastError: lastErrorText(errs[st.ID])})
	}
	data := map[string]any{"Stations": rows, "SilentDays": days, "Code": code, "CodeVillage": codeVillage, "ServerURL": h.ServerURL, "Pin": h.Pin}
	if code != "" {
		ef, _ := json.MarshalIndent(syncproto.EnrollFile{Server: h.ServerURL, Code: code, Village: codeVillage, Pin: h.PinSHA256}, "", "  ")
		data["EnrollFile"] = string(ef)
		data["EnrollFileURL"] = template.URL("data:application/json;charset=utf-8," + url.PathEscape(string(ef)))
	}
	h.render(w, r, http.StatusOK, "stations", page{Title: "站点", Nav: "stations", Data: data})
}

// snapshotHealth records the day's station health once per day, for the
// report over time.
func (h *Handler) snapshotHealth(r *http.Request, days int) {
	day := zone.Today(h.Now())
	h.healthMu.Lock()
	defer h.healthMu.Unlock()
	if h.healthDay == day {
		return
	}
	if err := h.Store.SnapshotHealth(r.Context(), time.Duration(days)*24*time.Hour); err == nil {
		h.healthDay = day
	}
}

func (h *Handler) handlePostCode(w http.ResponseWriter, r *http.Request, u *server.User) {
	village := strings.TrimSpace(r.PostFormValue("village"))
	ttl := time.Duration(atoi(r.PostFormValue("days"), 7)) * 24 * time.Hour
	code, err := h.Store.CreateCode(r.Context(), village, ttl)
	if errors.Is(err, server.ErrBadVillage) {
		h.fail(w, r, u, http.StatusBadRequest, "村代码应为本县的12位统计用区划代码，例如 340123101201")
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	if name := strings.TrimSpace(r.PostFormValue("name")); name != "" {
		h.Store.SetPlaceName(r.Context(), village, name)
	}
	if h.Pin != "" {
		code = code + "-" + h.Pin
	}
	h.audit(r, u, server.AuditEnrollCode, village, "有效期"+strconv.Itoa(int(ttl.Hours()/24))+"天")
	// The code is shown once, in this answer (never in a URL, which would
	// keep it in the browser's history); only its hash is stored.
	h.stationsPage(w, r, u, code, village)
}

func (h *Handler) handlePostRevoke(w http.ResponseWriter, r *http.Request, u *server.User) {
	id := r.PathValue("id")
	if err := h.Store.Revoke(r.Context(), id); errors.Is(err, server.ErrNoStation) {
		h.fail(w, r, u, http.StatusNotFound, "没有这个站点，或已停用")
		return
	} else if err != nil {
		h.internal(w, r, err)
		return
	}
	h.audit(r, u, server.AuditRevoke, id, "")
	http.Redirect(w, r, "/stations?msg=revoked", http.StatusSeeOther)
}

func (h *Handler) handlePostPlace(w http.ResponseWriter, r *http.Request, u *server.User) {
	code, name := strings.TrimSpace(r.PostFormValue("code")), r.PostFormValue("name")
	if err := h.Store.SetPlaceName(r.Context(), code, name); err != nil {
		h.fail(w, r, u, http.StatusBadRequest, "地名代码应为6位（县）、9位（乡镇）或12位（村）")
		return
	}
	h.audit(r, u, server.AuditSettings, code, "地名："+name)
	http.Redirect(w, r, "/stations?msg=saved", http.StatusSeeOther)
}
