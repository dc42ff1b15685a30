package web

import (
	"net/http"
	"sort"
	"strings"

	"stationsync/internal/records"
	"stationsync/internal/zone"
	"stationsync/server"
)

// The public portal: no login, only published disclosures within their
// publication window, with every ID and mobile number masked, whatever the
// station typed, but the mobile numbers the publisher marked as the
// notice's contact (public_numbers). Nothing else of the county's data is
// reachable from here.

type publicItem struct {
	server.PublicDisclosure
	VillageName string
	// Files are its attachments (files.go), on the notice's own page.
	Files   []fileView
	Waiting int
}

func (h *Handler) publicList(r *http.Request, village, id string) ([]publicItem, map[string]string, error) {
	list, err := h.Store.PublicDisclosures(r.Context(), village, id, zone.Today(h.Now()))
	if err != nil {
		return nil, nil, err
	}
	names, _ := h.Store.PlaceNames(r.Context())
	out := make([]publicItem, len(list))
	for i, d := range list {
		// Masked as on the station's notice: every personal number but the
		// contact numbers its publisher marked.
		f := records.Fields{"public_numbers": d.PublicNumbers}
		d.Title, d.Body, d.Reviewer = records.MaskDisclosure(f, d.Title), records.MaskDisclosure(f, d.Body), records.MaskDisclosure(f, d.Reviewer)
		out[i] = publicItem{PublicDisclosure: d, VillageName: h.placeName(names, d.Village)}
	}
	return out, names, nil
}

func (h *Handler) handleGetPublic(w http.ResponseWriter, r *http.Request) {
	list, names, err := h.publicList(r, "", "")
	if err != nil {
		h.internal(w, r, err)
		return
	}
	type village struct {
		Code, Name string
		N          int
	}
	by := map[string]*village{}
	for _, d := range list {
		if by[d.Village] == nil {
			by[d.Village] = &village{Code: d.Village, Name: d.VillageName}
		}
		by[d.Village].N++
	}
	var vs []village
	for _, v := range by {
		vs = append(vs, *v)
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].Code < vs[j].Code })
	h.render(w, r, http.StatusOK, "public", page{Title: "村务公开", Nav: "public", Data: map[string]any{"Villages": vs}, Names: names})
}

func (h *Handler) handleGetPublicVillage(w http.ResponseWriter, r *http.Request) {
	v := r.PathValue("village")
	if len(v) != 12 || strings.Trim(v, "0123456789") != "" {
		h.fail(w, r, nil, http.StatusNotFound, "没有这个村")
		return
	}
	list, names, err := h.publicList(r, v, "")
	if err != nil {
		h.internal(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "public", page{Title: h.placeName(names, v) + " 村务公开", Nav: "public", Data: map[string]any{"Village": v, "VillageName": h.placeName(names, v), "Items": list}, Names: names})
}

func (h *Handler) handleGetPublicItem(w http.ResponseWriter, r *http.Request) {
	list, names, err := h.publicList(r, "", r.PathValue("id"))
	if err != nil {
		h.internal(w, r, err)
		return
	}
	if len(list) == 0 {
		h.fail(w, r, nil, http.StatusNotFound, "没有这条公开信息，或已过公开期限")
		return
	}
	if list[0].Files, list[0].Waiting, err = h.fileViews(r.Context(), list[0].Attachments, "/public/f/"); err != nil {
		h.internal(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "public_item", page{Title: list[0].Title, Nav: "public", Data: list[0], Names: names})
}
