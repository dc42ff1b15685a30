package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"stationsync/internal/records"
	"stationsync/internal/zone"
	"stationsync/server"
)

// One record's page: its fields with where each came from, the county's
// edit form for the fields both sides may change, its versions, visits and
// conflicts, and an application's decision form.

type recordData struct {
	Kind      string
	KindLabel string
	Subject   string // the person the record is about
	Rec       *server.RecordDetail
	Fields    []fieldView
	Visits    []server.Row
	Editable  []fieldView
	CanDecide bool
	Ops       []opChoice // the decisions valid from the current status
	Monthly   bool       // the approved amount is paid every month
	Status    string     // an application's status, in Chinese
	Form      url.Values // a refused decision's form, shown again with the reason
	Origins   map[string]string
	Versions  []versionView
	Conflicts []conflictView // open and resolved, values masked like the fields
	Files     *filesView     // the 附件 section (files.go); nil for a person
	// DecisionFiles are the documents the county's decisions carried
	// down (decision_documents); nil when none did.
	DecisionFiles *filesView
}

type versionView struct {
	Rev     int64
	By      string
	At      string // when it arrived at the county
	Origin  string
	Changes []string
}

type fieldView struct {
	Name, Label, Value, Origin, At string
	Raw                            string
	Link                           string // a person the field refers to
	Table                          *tableView
	Enum                           []string
	Multi                          bool
	Masked                         bool // edit form: Value is shown masked, the box starts empty
}

// recordOf returns the record the request's path names ({kind}/{id}),
// within the user's scope, or answers the request itself and reports
// false.
func (h *Handler) recordOf(w http.ResponseWriter, r *http.Request, u *server.User) (records.Kind, *server.RecordDetail, bool) {
	kind, ok := kindOf(r.PathValue("kind"))
	if !ok {
		h.fail(w, r, u, http.StatusNotFound, "没有这类记录")
		return "", nil, false
	}
	rec, err := h.Store.Record(r.Context(), kind, r.PathValue("id"), u.Scope())
	if errors.Is(err, server.ErrNotFound) {
		h.fail(w, r, u, http.StatusNotFound, "没有这条记录，或它不在您负责的范围内")
		return "", nil, false
	}
	if err != nil {
		h.internal(w, r, err)
		return "", nil, false
	}
	return kind, rec, true
}

func (h *Handler) handleGetRecord(w http.ResponseWriter, r *http.Request, u *server.User) {
	kind, rec, ok := h.recordOf(w, r, u)
	if !ok {
		return
	}
	h.renderRecord(w, r, u, kind, rec, http.StatusOK, "", nil)
}

// renderRecord shows one record; a refused decision comes back here with
// status, the reason in errMsg and the form as it was sent.
func (h *Handler) renderRecord(w http.ResponseWriter, r *http.Request, u *server.User, kind records.Kind, rec *server.RecordDetail, status int, errMsg string, form url.Values) {
	if u.FullNumbers && kind == records.Person {
		h.audit(r, u, server.AuditViewFullNums, string(kind)+"/"+rec.ID, "")
	}
	d := recordData{Kind: string(kind), KindLabel: kindLabel(kind), Rec: rec}
	sch := records.SchemaOf(kind)
	stations := h.stationLabels(r.Context())
	// The page is about a person: their name, not an id, heads it.
	subject := h.Store.SubjectName(r.Context(), kind, rec.ID)
	title := d.KindLabel
	if subject != "" {
		title = subject + " · " + d.KindLabel
	}
	d.Subject = subject
	for _, fv := range rec.Fields {
		v := fieldView{Name: fv.Name, Label: fv.Label, Value: displayValue(fv.Name, fv.Value, !u.FullNumbers), Origin: h.originLabel(stations, fv.Origin), At: zone.Second(fv.At)}
		v.Table = peopleTable(fv.Name, fv.Value, !u.FullNumbers)
		if (fv.Name == "person_id" || fv.Name == "applicant_id") && subject != "" {
			v.Value = subject
		}
		if fv.Name == "approved_amount_fen" {
			// A one-off 临时救助 must not read as a monthly sum.
			var fen int64
			if json.Unmarshal(fv.Value, &fen) == nil {
				v.Value = records.AmountText(records.TextValue(rec.Record.Fields, "type"), fen, "")
			}
		}
		if isFileField(fv.Name) && v.Value != "" {
			v.Link = "#files"
			if fv.Name == decisionField {
				v.Link = "#decision-files"
			}
		}
		if fv.Name == "person_id" || fv.Name == "applicant_id" {
			v.Link = "/records/person/" + url.PathEscape(records.TextValue(rec.Record.Fields, fv.Name))
		}
		d.Fields = append(d.Fields, v)
	}
	for _, f := range sch.Fields {
		if f.Owner != records.Both {
			continue
		}
		v := fieldView{Name: f.Name, Label: f.Label, Enum: f.Enum, Multi: f.Type == records.JSON}
		raw := rec.Record.Fields[f.Name]
		if f.Type == records.JSON {
			var list []string
			json.Unmarshal(raw, &list)
			v.Raw = strings.Join(list, ",")
		} else {
			v.Raw = records.TextValue(rec.Record.Fields, f.Name)
		}
		if hidesNumbers(u, f.Name, raw) {
			// The form must not put back what the page masks: the box
			// stays empty, shows the masked value, and empty means
			// unchanged (handlePostEdit).
			v.Masked, v.Value, v.Raw = true, displayValue(f.Name, raw, true), ""
		}
		d.Editable = append(d.Editable, v)
	}
	if kind == records.Person {
		d.Visits, _ = h.Store.RelatedVisits(r.Context(), rec.ID, 20)
		for i := range d.Visits {
			switch c := &d.Visits[i].Cells[3]; {
			case strings.TrimSpace(*c) == "":
				*c = "（未填写基本情况）"
			case !u.FullNumbers:
				*c = maskText(*c)
			}
		}
	}
	if !u.FullNumbers {
		for i := range rec.History {
			rec.History[i].Comment = maskText(rec.History[i].Comment)
		}
	}
	if vs, err := h.Store.Versions(r.Context(), kind, rec.ID); err == nil {
		d.Versions = h.versionViews(sch, vs, !u.FullNumbers, stations, subject)
	}
	d.Conflicts = h.conflictViews(r.Context(), rec.AllConflicts, !u.FullNumbers, stations)
	files, err := h.recordFiles(r.Context(), kind, rec.Record.Fields)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	d.Files = files
	if kind == records.Application {
		st := records.TextValue(rec.Record.Fields, "status")
		d.Status = records.StatusLabel[st]
		d.Ops = decisionChoices(st, h.directDecision(r.Context(), u), form)
		d.CanDecide = len(d.Ops) > 0
		d.Monthly = records.MonthlyAssistance(records.TextValue(rec.Record.Fields, "type"))
		d.Form = form
		if d.DecisionFiles, err = h.decisionFiles(r.Context(), rec.Record.Fields); err != nil {
			h.internal(w, r, err)
			return
		}
	}
	h.render(w, r, status, "record", page{Title: title, Nav: "records-" + string(kind), Err: errMsg, Data: d})
}

// handlePostEdit changes the fields the county may edit (those both sides
// may change); the edit flows down like a decision.
func (h *Handler) handlePostEdit(w http.ResponseWriter, r *http.Request, u *server.User) {
	kind, rec, ok := h.recordOf(w, r, u)
	if !ok {
		return
	}
	id := rec.ID
	r.ParseForm()
	fields := records.Fields{}
	var changed []string
	for _, f := range records.SchemaOf(kind).Fields {
		if f.Owner != records.Both || !r.PostForm.Has(f.Name) {
			continue
		}
		v := strings.TrimSpace(r.PostFormValue(f.Name))
		if v == "" && hidesNumbers(u, f.Name, rec.Record.Fields[f.Name]) {
			continue // a masked box left empty: unchanged
		}
		var raw json.RawMessage
		if f.Type == records.JSON {
			var list []string
			for _, it := range strings.FieldsFunc(v, func(c rune) bool { return c == ',' || c == '、' || c == '，' }) {
				list = append(list, strings.TrimSpace(it))
			}
			raw, _ = json.Marshal(list)
		} else {
			raw = records.JSONText(v)
		}
		if !records.Equal(raw, rec.Record.Fields[f.Name]) && !(v == "" && rec.Record.Fields[f.Name] == nil) {
			fields[f.Name] = raw
			changed = append(changed, f.Label)
		}
	}
	if len(fields) == 0 {
		http.Redirect(w, r, r.URL.Path, http.StatusSeeOther)
		return
	}
	if err := h.Store.CountyEdit(r.Context(), kind, id, fields, u.DisplayName); err != nil {
		if errors.Is(err, server.ErrNotEditable) {
			h.fail(w, r, u, http.StatusBadRequest, "不能保存："+chineseReason(err))
			return
		}
		h.internal(w, r, err)
		return
	}
	h.audit(r, u, server.AuditEdit, string(kind)+"/"+id, strings.Join(changed, "、"))
	http.Redirect(w, r, r.URL.Path+"?msg=saved", http.StatusSeeOther)
}

// hidesNumbers reports whether the edit form must not show a field's
// value to u: u may not see full numbers and the value has one that the
// page masks.
func hidesNumbers(u *server.User, name string, raw json.RawMessage) bool {
	return !u.FullNumbers && displayValue(name, raw, true) != displayValue(name, raw, false)
}

// versionViews lists, newest first, what each stored version changed, and
// from where.
func (h *Handler) versionViews(sch *records.Schema, vs []server.RecordVersion, mask bool, stations map[string]string, subject string) []versionView {
	var out []versionView
	// A version's change reads as text: people by name and relation, the
	// record's person by name, not JSON and ids.
	displayValue := func(name string, raw json.RawMessage, mask bool) string {
		if (name == "person_id" || name == "applicant_id") && subject != "" {
			return subject
		}
		if t := peopleTable(name, raw, mask); t != nil {
			var people []string
			for _, row := range t.Rows {
				people = append(people, row[0]+"（"+row[1]+"）")
			}
			return strings.Join(people, "、")
		}
		return displayValue(name, raw, mask)
	}
	for i, v := range vs {
		vv := versionView{Rev: v.Rev, By: v.UpdatedBy, At: zone.Second(v.ReceivedAt)}
		origins := map[string]bool{}
		for _, f := range sch.Fields {
			cur, had := v.Fields[f.Name]
			if i == 0 {
				if had {
					vv.Changes = append(vv.Changes, f.Label+"："+displayValue(f.Name, cur, mask))
					origins[v.Origins[f.Name]] = true
				}
				continue
			}
			prev, hadPrev := vs[i-1].Fields[f.Name]
			if had == hadPrev && (!had || records.Equal(cur, prev)) {
				continue
			}
			vv.Changes = append(vv.Changes, f.Label+"："+displayValue(f.Name, prev, mask)+" → "+displayValue(f.Name, cur, mask))
			if o := v.Origins[f.Name]; o != "" {
				origins[o] = true
			}
		}
		var os []string
		for o := range origins {
			os = append(os, h.originLabel(stations, o))
		}
		slices.Sort(os)
		vv.Origin = strings.Join(os, "、")
		out = append(out, vv)
	}
	slices.Reverse(out)
	return out
}

// originLabel names where a value came from: 县里, or the village whose
// station sent it (stations from stationLabels); a station id nobody knows
// shows as it is.
func (h *Handler) originLabel(stations map[string]string, o string) string {
	if o == server.CountyOrigin {
		return "县里"
	}
	if l, ok := stations[o]; ok {
		return l
	}
	return "村站 " + o
}

// stationLabels maps each station id to "<village name>村站".
func (h *Handler) stationLabels(ctx context.Context) map[string]string {
	out := map[string]string{}
	sts, err := h.Store.Stations(ctx)
	if err != nil {
		return out
	}
	names, _ := h.Store.PlaceNames(ctx)
	for _, st := range sts {
		out[st.ID] = h.placeName(names, st.Village) + "村站"
	}
	return out
}
