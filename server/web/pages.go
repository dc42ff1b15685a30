package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"stationsync/internal/idcard"
	"stationsync/internal/pii"
	"stationsync/internal/records"
	"stationsync/internal/zone"
	"stationsync/server"
	"stationsync/syncproto"
)

// ---- Stations ----

type stationRow struct {
	server.Station
	Silent    bool
	LastError string
}

func (h *Handler) silentDays(r *http.Request) int {
	n := 3
	h.Store.Setting(r.Context(), "silent_days", &n)
	if n <= 0 {
		n = 3
	}
	return n
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
	days := h.silentDays(r)
	h.snapshotHealth(r, days)
	silent := h.Now().Add(-time.Duration(days) * 24 * time.Hour)
	var rows []stationRow
	for _, st := range list {
		rows = append(rows, stationRow{Station: st, Silent: st.RevokedAt == nil && (st.LastContactAt == nil || st.LastContactAt.Before(silent)), LastError: errs[st.ID]})
	}
	data := map[string]any{"Stations": rows, "SilentDays": days, "Code": code, "CodeVillage": codeVillage, "ServerURL": h.ServerURL, "Pin": h.Pin}
	if code != "" {
		ef, _ := json.MarshalIndent(syncproto.EnrollFile{Server: h.ServerURL, Code: code, Village: codeVillage, Pin: h.PinSHA256}, "", "  ")
		data["EnrolFile"] = string(ef)
		data["EnrolFileURL"] = template.URL("data:application/json;charset=utf-8," + url.PathEscape(string(ef)))
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

// ---- Lists ----

// filterOf reads the list filter of a request; the scope comes from the
// user, never from the request.
func filterOf(r *http.Request, u *server.User) server.Filter {
	q := r.URL.Query()
	f := server.Filter{
		Scope: u.Scope(), Place: strings.TrimSpace(q.Get("place")), Category: q.Get("category"), Status: q.Get("status"),
		Risk: q.Get("risk"), From: q.Get("from"), To: q.Get("to"), Q: strings.TrimSpace(q.Get("q")),
	}
	f.Limit = 50
	f.Offset = max(0, atoi(q.Get("page"), 1)-1) * f.Limit
	return f
}

type listData struct {
	Kind      string
	KindLabel string
	Columns   []string
	Rows      []server.Row
	Total     int
	Page      int
	Pages     int
	Filter    server.Filter
	// Query is the filter as a query string, for the export and pager
	// links. Typed as a URL: a plain string after "?" in an href is
	// escaped as one query value ("place%3d…"), and the export and the
	// next page then lose the filter.
	Query    template.URL
	Options  map[string][]string
	Statuses [][2]string
	Villages []string
	Queue    bool // the review queue: checkboxes and bulk decisions
	Follow   string
	Summary  []server.PlaceCount // follow-up: counts per township or village

	// Ops are the decisions the bulk form offers: those valid from the
	// status of the tab (or, on 全部, of any application listed); none
	// on a tab of finished applications.
	Ops []opChoice
}

func kindLabel(k records.Kind) string {
	return records.SchemaOf(k).Label
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request, u *server.User, kind records.Kind, tmpl, nav string, queue bool) {
	f := filterOf(r, u)
	if !placeAllowed(u, f.Place) {
		h.fail(w, r, u, http.StatusForbidden, "您只能查看本乡镇的村")
		return
	}
	d := listData{Kind: string(kind), KindLabel: kindLabel(kind), Columns: server.Columns(kind), Filter: f, Queue: queue}
	total, err := h.Store.List(r.Context(), kind, f, !u.FullNumbers, func(row server.Row) error {
		d.Rows = append(d.Rows, row)
		return nil
	})
	if err != nil {
		h.internal(w, r, err)
		return
	}
	d.Total, d.Page, d.Pages = total, f.Offset/f.Limit+1, max(1, int(math.Ceil(float64(total)/float64(f.Limit))))
	q := r.URL.Query()
	q.Del("page")
	q.Del("msg")
	d.Query = template.URL(q.Encode())
	d.Options = map[string][]string{"categories": records.PersonCategories, "types": records.AssistanceTypes, "risks": records.RiskLevels, "disc": records.DisclosureKinds}
	switch kind {
	case records.Application:
		var counts map[string]int
		if queue {
			counts, _ = h.Store.StatusCounts(r.Context(), u.Scope())
		}
		for _, s := range records.AppStatuses {
			label := records.StatusLabel[s]
			if queue {
				label += " " + strconv.Itoa(counts[s])
			}
			d.Statuses = append(d.Statuses, [2]string{s, label})
		}
		if queue {
			d.Ops = bulkChoices(f.Status, d.Rows, h.directDecision(r.Context(), u))
		}
	case records.Person:
		for _, s := range records.PersonStatuses {
			d.Statuses = append(d.Statuses, [2]string{s, s})
		}
	case records.Disclosure:
		for _, s := range records.DisclosureStatuses {
			d.Statuses = append(d.Statuses, [2]string{s, server.DisclosureStatusLabel[s]})
		}
	}
	d.Villages = h.places(r, u)
	h.render(w, r, http.StatusOK, tmpl, page{Title: d.KindLabel, Nav: nav, Data: d})
}

func (h *Handler) handleGetList(w http.ResponseWriter, r *http.Request, u *server.User) {
	kind, ok := kindOf(r.PathValue("kind"))
	if !ok {
		h.fail(w, r, u, http.StatusNotFound, "没有这类记录")
		return
	}
	h.list(w, r, u, kind, "list", "records-"+string(kind), false)
}

func (h *Handler) handleGetApplications(w http.ResponseWriter, r *http.Request, u *server.User) {
	if !r.URL.Query().Has("status") {
		q := r.URL.Query()
		q.Set("status", records.StatusSubmitted)
		r.URL.RawQuery = q.Encode()
	}
	h.list(w, r, u, records.Application, "list", "applications", true)
}

// ---- One record ----

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

// maskText masks every ID or mobile number inside free text, in any
// spelling (internal/pii, which the station's print view uses too).
func maskText(s string) string { return pii.MaskText(s) }

// displayValue turns a field's JSON value into text.
func displayValue(name string, raw json.RawMessage, mask bool) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch {
		case name == "status":
			if l, ok := records.StatusLabel[s]; ok {
				return l
			}
			if l, ok := server.DisclosureStatusLabel[s]; ok {
				return l
			}
		case mask && name == "id_number":
			return idcard.Mask(s)
		case mask && name == "phone":
			return idcard.MaskPhone(s)
		case mask:
			return maskText(s)
		}
		return s
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return strings.Join(list, "、")
	}
	var n int64
	if json.Unmarshal(raw, &n) == nil && strings.HasSuffix(name, "_fen") {
		return fmt.Sprintf("%.2f 元", float64(n)/100)
	}
	out := string(records.Canonical(raw))
	if mask {
		out = maskText(out)
	}
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

// tableView is a JSON list of people (家庭成员, 外出务工, 监护人) as rows.
type tableView struct {
	Head []string
	Rows [][]string
}

// peopleColumns are the columns of each list of people, in order.
var peopleColumns = map[string][][2]string{
	"members":     {{"name", "姓名"}, {"relation", "关系"}, {"id_number", "公民身份号码"}, {"income_fen", "月收入"}},
	"family_away": {{"name", "姓名"}, {"relation", "关系"}, {"location", "务工地"}, {"phone", "联系电话"}},
	"guardian":    {{"name", "姓名"}, {"relation", "关系"}, {"phone", "联系电话"}},
}

// peopleTable turns a list (or one object) of people into a table, numbers
// masked unless full; nil when the value is not such a list.
func peopleTable(name string, raw json.RawMessage, mask bool) *tableView {
	cols, ok := peopleColumns[name]
	if !ok || len(raw) == 0 {
		return nil
	}
	var list []map[string]json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		var one map[string]json.RawMessage
		if json.Unmarshal(raw, &one) != nil || one == nil {
			return nil
		}
		list = []map[string]json.RawMessage{one}
	}
	if len(list) == 0 {
		return nil
	}
	t := &tableView{}
	for _, c := range cols {
		t.Head = append(t.Head, c[1])
	}
	for _, m := range list {
		var row []string
		for _, c := range cols {
			row = append(row, displayValue(c[0], m[c[0]], mask))
		}
		t.Rows = append(t.Rows, row)
	}
	return t
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

type opChoice struct {
	Value, Label string
	Checked      bool
}

// decisionChoices are the radio buttons of the decision form: only the
// steps the state machine allows from status, the first (or the one the
// refused form had) checked.
func decisionChoices(status string, direct bool, form url.Values) []opChoice {
	var out []opChoice
	want := form.Get("op")
	for _, op := range records.CountyOps(status, direct) {
		c := opChoice{Value: string(op), Label: opLabel[op]}
		if direct && status == records.StatusSubmitted && (op == records.OpApprove || op == records.OpReject) {
			c.Label += "（同时记录受理、进入审核）"
		}
		c.Checked = string(op) == want
		out = append(out, c)
	}
	checked := false
	for _, c := range out {
		checked = checked || c.Checked
	}
	if !checked && len(out) > 0 {
		out[0].Checked = true
	}
	return out
}

// bulkChoices are the decisions of the review queue's bulk form: those
// valid from status, or with status "" (全部) from the status of any row
// (its fourth cell, in Chinese). Offering all five on every tab asked a
// reviewer to "approve" applications already approved or withdrawn.
func bulkChoices(status string, rows []server.Row, direct bool) []opChoice {
	if status != "" {
		return decisionChoices(status, direct, nil)
	}
	code := map[string]string{}
	for c, l := range records.StatusLabel {
		code[l] = c
	}
	valid := map[records.Op]bool{}
	for _, r := range rows {
		if len(r.Cells) > 3 {
			for _, op := range records.CountyOps(code[r.Cells[3]], direct) {
				valid[op] = true
			}
		}
	}
	var out []opChoice
	for _, op := range []records.Op{records.OpAccept, records.OpReview, records.OpApprove, records.OpReject, records.OpReturn} {
		if valid[op] {
			out = append(out, opChoice{Value: string(op), Label: opLabel[op]})
		}
	}
	return out
}

// directDecision reports whether u may approve or reject from 已提交 in
// one action: county reviewers may, unless the setting "direct_approve"
// is false; a township office takes each step itself.
func (h *Handler) directDecision(ctx context.Context, u *server.User) bool {
	if u.Role == server.RoleTownship {
		return false
	}
	allow := true
	h.Store.Setting(ctx, "direct_approve", &allow)
	return allow
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
	if kind == records.Application {
		st := records.TextValue(rec.Record.Fields, "status")
		d.Status = records.StatusLabel[st]
		d.Ops = decisionChoices(st, h.directDecision(r.Context(), u), form)
		d.CanDecide = len(d.Ops) > 0
		d.Monthly = records.MonthlyAssistance(records.TextValue(rec.Record.Fields, "type"))
		d.Form = form
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

// chineseReason strips the English prefix of a wrapped store error, which
// carries the merge's Chinese reason after ": ".
func chineseReason(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

// ---- Decisions ----

var decisionOps = map[string]records.Op{"accept": records.OpAccept, "review": records.OpReview, "approve": records.OpApprove, "reject": records.OpReject, "return": records.OpReturn}

var opLabel = map[records.Op]string{records.OpAccept: "受理", records.OpReview: "进入审核", records.OpApprove: "批准", records.OpReject: "不予批准", records.OpReturn: "退回补充"}

func (h *Handler) handlePostDecide(w http.ResponseWriter, r *http.Request, u *server.User) {
	r.ParseForm()
	ids := r.PostForm["id"]
	if len(ids) == 0 {
		h.fail(w, r, u, http.StatusBadRequest, "请至少选择一份申请")
		return
	}
	// A decision on one application from its page goes back to that
	// page's form with the reason, not to a bare error page.
	fail := func(status int, msg string) {
		if len(ids) == 1 && strings.HasPrefix(r.PostFormValue("back"), "/records/application/") {
			if rec, err := h.Store.Record(r.Context(), records.Application, ids[0], u.Scope()); err == nil {
				h.renderRecord(w, r, u, records.Application, rec, status, msg, r.PostForm)
				return
			}
		}
		h.fail(w, r, u, status, msg)
	}
	op, ok := decisionOps[r.PostFormValue("op")]
	if !ok {
		fail(http.StatusBadRequest, "请选择审核操作")
		return
	}
	comment := strings.TrimSpace(r.PostFormValue("comment"))
	d := server.Decision{Op: op, By: u.DisplayName, Comment: comment, Direct: h.directDecision(r.Context(), u)}
	switch op {
	case records.OpApprove:
		yuan, err := strconv.ParseFloat(strings.TrimSpace(r.PostFormValue("amount")), 64)
		if err != nil || yuan <= 0 || math.IsInf(yuan, 0) {
			fail(http.StatusBadRequest, "批准时请填写金额（元），例如 650：低保、特困为每月金额，临时救助等为一次性金额")
			return
		}
		d.AmountFen = int64(math.Round(yuan * 100))
		d.FromMonth = strings.TrimSpace(r.PostFormValue("from"))
		if _, err := time.Parse("2006-01", d.FromMonth); err != nil {
			fail(http.StatusBadRequest, "批准时请填写月份（低保、特困为起始月份，一次性救助为发放月份），格式为 2026-01")
			return
		}
	case records.OpReject:
		if comment == "" {
			fail(http.StatusBadRequest, "不予批准时请填写理由")
			return
		}
	case records.OpReturn:
		if comment == "" {
			fail(http.StatusBadRequest, "退回补充时请写明需要补充的材料")
			return
		}
	}
	var failed []string
	var done []string
	for _, id := range ids {
		// The scope is checked per application: a bulk decision cannot
		// reach another township's application by a forged id.
		a, err := h.Store.Application(r.Context(), id, u.Scope())
		if errors.Is(err, server.ErrNotFound) {
			failed = append(failed, id+"：没有这份申请，或不在您负责的范围内")
			continue
		}
		if err != nil {
			h.internal(w, r, err)
			return
		}
		d.ApplicationID = a.ID
		path, _ := records.DecisionPath(op, a.Status, d.Direct)
		if err := h.Store.Decide(r.Context(), d); err != nil {
			if errors.Is(err, server.ErrNotApplicable) || errors.Is(err, server.ErrNotFound) {
				failed = append(failed, a.ApplicantName+"（"+a.ID+"）："+chineseReason(err))
				continue
			}
			h.internal(w, r, err)
			return
		}
		detail := opLabel[op]
		if op == records.OpApprove {
			if records.MonthlyAssistance(a.Type) {
				detail += fmt.Sprintf(" %.2f元/月 自%s", float64(d.AmountFen)/100, d.FromMonth)
			} else {
				detail += fmt.Sprintf(" 一次性%.2f元 %s发放", float64(d.AmountFen)/100, d.FromMonth)
			}
		}
		if len(path) > 1 {
			var steps []string
			for _, p := range path {
				steps = append(steps, opLabel[p])
			}
			detail += "（一次完成：" + strings.Join(steps, "→") + "）"
		}
		if comment != "" {
			detail += " 意见：" + comment
		}
		h.audit(r, u, server.AuditDecision, "application/"+a.ID, detail)
		done = append(done, a.ID)
	}
	if len(failed) > 0 {
		msg := fmt.Sprintf("已处理 %d 份；以下 %d 份未能处理：\n%s", len(done), len(failed), strings.Join(failed, "\n"))
		if len(ids) == 1 {
			msg = "未能处理：" + failed[0]
		}
		fail(http.StatusConflict, msg)
		return
	}
	// One approval of 低保 or 特困: offer the 救助对象公示.
	if op == records.OpApprove && len(done) == 1 {
		if a, err := h.Store.Application(r.Context(), done[0], u.Scope()); err == nil && needsDisclosure(a.Type) {
			http.Redirect(w, r, "/applications/"+url.PathEscape(a.ID)+"/disclosure", http.StatusSeeOther)
			return
		}
	}
	back := safeNext(r.PostFormValue("back"))
	if back == "/" {
		back = "/applications"
	}
	sep := "?"
	if strings.Contains(back, "?") {
		sep = "&"
	}
	http.Redirect(w, r, back+sep+"msg=decided", http.StatusSeeOther)
}

func needsDisclosure(typ string) bool {
	return typ == "最低生活保障" || typ == "特困人员救助供养"
}

type disclosureForm struct {
	App                      *server.ApplicationBrief
	Title, Body, From, Until string
}

func (h *Handler) disclosureDraft(a *server.ApplicationBrief) disclosureForm {
	now := h.today()
	from := now.Format("2006-01-02")
	until := now.AddDate(0, 0, 7).Format("2006-01-02")
	title := a.Type + "审批结果公示"
	body := fmt.Sprintf("经村民委员会评议、乡镇审核、县民政局审批，以下对象符合%s条件，现予公示：\n\n姓名：%s\n公民身份号码：%s\n救助类型：%s\n保障金额：%.2f 元/月，自 %s 起\n\n公示期为 %s 至 %s。如有异议，请在公示期内向村务监督委员会或乡镇民政办反映。",
		a.Type, a.ApplicantName, idcard.Mask(a.ApplicantIDNumber), a.Type, float64(a.ApprovedFen)/100, a.ApprovedFrom, from, until)
	return disclosureForm{App: a, Title: title, Body: body, From: from, Until: until}
}

func (h *Handler) handleGetDisclosureForm(w http.ResponseWriter, r *http.Request, u *server.User) {
	a, err := h.Store.Application(r.Context(), r.PathValue("id"), u.Scope())
	if errors.Is(err, server.ErrNotFound) {
		h.fail(w, r, u, http.StatusNotFound, "没有这份申请，或不在您负责的范围内")
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "disclosure", page{Title: "生成救助对象公示", Nav: "applications", Msg: messages["decided"], Data: h.disclosureDraft(a)})
}

func (h *Handler) handlePostDisclosure(w http.ResponseWriter, r *http.Request, u *server.User) {
	a, err := h.Store.Application(r.Context(), r.PathValue("id"), u.Scope())
	if errors.Is(err, server.ErrNotFound) {
		h.fail(w, r, u, http.StatusNotFound, "没有这份申请，或不在您负责的范围内")
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	if a.Status != records.StatusApproved {
		h.fail(w, r, u, http.StatusConflict, "只有已批准的申请才能生成公示")
		return
	}
	// Whatever was typed, no full ID or phone number reaches the notice.
	body := maskText(r.PostFormValue("body"))
	fields := records.Fields{
		"category": records.JSONText("救助对象公示"), "title": records.JSONText(maskText(strings.TrimSpace(r.PostFormValue("title")))),
		"body": records.JSONText(body), "publish_from": records.JSONText(r.PostFormValue("from")),
		"publish_until": records.JSONText(r.PostFormValue("until")), "status": records.JSONText("published"),
		"reviewer": records.JSONText(u.DisplayName),
	}
	id, err := h.Store.CountyCreate(r.Context(), a.Village, records.Disclosure, fields, u.DisplayName)
	if errors.Is(err, server.ErrNotEditable) {
		h.render(w, r, http.StatusBadRequest, "disclosure", page{Title: "生成救助对象公示", Nav: "applications", Err: "不能保存：" + chineseReason(err),
			Data: disclosureForm{App: a, Title: r.PostFormValue("title"), Body: r.PostFormValue("body"), From: r.PostFormValue("from"), Until: r.PostFormValue("until")}})
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	h.audit(r, u, server.AuditDisclosure, "disclosure/"+id, "申请 "+a.ID)
	http.Redirect(w, r, "/records/disclosure/"+url.PathEscape(id)+"?msg=disc", http.StatusSeeOther)
}

// ---- Follow-up ----

var followLabels = map[server.FollowUpKind]string{server.FollowOverdue: "逾期未走访", server.FollowUrgent: "紧急情况未跟进", server.FollowReview: "待复核的救助对象（应退即退）"}

func followKind(s string) server.FollowUpKind {
	switch server.FollowUpKind(s) {
	case server.FollowUrgent, server.FollowReview:
		return server.FollowUpKind(s)
	}
	return server.FollowOverdue
}

func (h *Handler) handleGetFollowUp(w http.ResponseWriter, r *http.Request, u *server.User) {
	q := r.URL.Query()
	k := followKind(q.Get("k"))
	place := strings.TrimSpace(q.Get("place"))
	if !placeAllowed(u, place) {
		h.fail(w, r, u, http.StatusForbidden, "您只能查看本乡镇的村")
		return
	}
	pg := max(1, atoi(q.Get("page"), 1))
	d := listData{Kind: "followup", KindLabel: followLabels[k], Columns: server.FollowUpColumns(k), Follow: string(k), Filter: server.Filter{Place: place, Limit: 50}}
	rows, total, err := h.Store.FollowUpPage(r.Context(), k, u.Scope(), place, h.today(), 50, (pg-1)*50, !u.FullNumbers)
	d.Rows = rows
	if err == nil {
		d.Summary, err = h.Store.FollowUpSummary(r.Context(), k, u.Scope(), place, h.today(), !u.FullNumbers)
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	d.Total, d.Page, d.Pages = total, pg, max(1, (total+49)/50)
	q.Del("page")
	q.Del("msg")
	q.Set("k", string(k))
	d.Query = template.URL(q.Encode())
	d.Villages = h.places(r, u)
	h.render(w, r, http.StatusOK, "followup", page{Title: "跟进", Nav: "followup", Data: d})
}

// ---- Conflicts ----

type conflictView struct {
	server.ConflictRow
	Label, Winner, Loser, WinnerOrigin, LoserOrigin, WinnerRaw, LoserRaw string
	CountyMay                                                            bool
	Subject, KindLabel                                                   string // whose record it is
}

func (h *Handler) conflictViews(ctx context.Context, list []server.ConflictRow, mask bool, stations map[string]string) []conflictView {
	var out []conflictView
	for _, c := range list {
		v := conflictView{ConflictRow: c, WinnerOrigin: h.originLabel(stations, c.WinnerOrigin), LoserOrigin: h.originLabel(stations, c.LoserOrigin)}
		v.Subject = h.Store.SubjectName(ctx, records.Kind(c.Kind), c.RecordID)
		v.KindLabel = kindLabel(records.Kind(c.Kind))
		v.Label = c.Field
		if s := records.SchemaOf(records.Kind(c.Kind)); s != nil {
			if f, ok := s.Field(c.Field); ok {
				v.Label = f.Label
				v.CountyMay = f.Owner != records.Station
			}
		}
		v.Winner, v.Loser = displayValue(c.Field, c.Winner, mask), displayValue(c.Field, c.Loser, mask)
		v.WinnerRaw, v.LoserRaw = string(records.Canonical(c.Winner)), string(records.Canonical(c.Loser))
		out = append(out, v)
	}
	return out
}

func (h *Handler) handleGetConflicts(w http.ResponseWriter, r *http.Request, u *server.User) {
	pg := max(1, atoi(r.URL.Query().Get("page"), 1))
	list, total, err := h.Store.OpenConflicts(r.Context(), u.Scope(), 50, (pg-1)*50)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	data := map[string]any{"Conflicts": h.conflictViews(r.Context(), list, !u.FullNumbers, h.stationLabels(r.Context())), "Total": total, "Page": pg, "Pages": max(1, (total+49)/50)}
	h.render(w, r, http.StatusOK, "conflicts", page{Title: "冲突", Nav: "conflicts", Data: data})
}

func (h *Handler) handlePostResolve(w http.ResponseWriter, r *http.Request, u *server.User) {
	c, err := h.Store.ConflictByID(r.Context(), r.PathValue("id"))
	if errors.Is(err, server.ErrNotFound) || (err == nil && !u.CanSee(c.Village)) {
		h.fail(w, r, u, http.StatusNotFound, "没有这个冲突，或不在您负责的范围内")
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	var value json.RawMessage
	detail := ""
	switch r.PostFormValue("choice") {
	case "keep":
		detail = "保留现值"
	case "loser":
		value = c.Loser
		detail = "改用另一方的值"
	case "edit":
		v := strings.TrimSpace(r.PostFormValue("value"))
		if json.Valid([]byte(v)) && (strings.HasPrefix(v, "[") || strings.HasPrefix(v, "{") || strings.HasPrefix(v, "\"")) {
			value = json.RawMessage(v)
		} else {
			value = records.JSONText(v)
		}
		detail = "改为新值"
	default:
		h.fail(w, r, u, http.StatusBadRequest, "请选择如何处理这个冲突")
		return
	}
	if err := h.Store.ResolveConflict(r.Context(), c.ID, value, u.DisplayName); err != nil {
		if errors.Is(err, server.ErrNotEditable) || errors.Is(err, server.ErrNotApplicable) {
			h.fail(w, r, u, http.StatusConflict, "不能处理："+chineseReason(err))
			return
		}
		h.internal(w, r, err)
		return
	}
	h.audit(r, u, server.AuditResolve, c.Kind+"/"+c.RecordID, c.Field+"："+detail)
	back := "/conflicts?msg=resolved"
	if r.PostFormValue("back") == "record" {
		back = "/records/" + c.Kind + "/" + url.PathEscape(c.RecordID) + "?msg=resolved"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// ---- Accounts, audit, settings ----

func (h *Handler) handleGetUsers(w http.ResponseWriter, r *http.Request, u *server.User) {
	users, err := h.Store.Users(r.Context())
	if err != nil {
		h.internal(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "users", page{Title: "账号", Nav: "users", Data: map[string]any{"Users": users, "Roles": []string{server.RoleAdmin, server.RoleCounty, server.RoleTownship}, "Min": server.MinPasswordLen}})
}

func userError(err error) string {
	switch {
	case errors.Is(err, server.ErrUserExists):
		return "用户名已被使用"
	case errors.Is(err, server.ErrWeakPassword):
		return fmt.Sprintf("密码至少 %d 位", server.MinPasswordLen)
	case errors.Is(err, server.ErrBadRole):
		return "请检查用户名、角色，乡镇账号需填写本县的9位乡镇代码"
	case errors.Is(err, server.ErrNoUser):
		return "没有这个账号"
	}
	return ""
}

func (h *Handler) handlePostUser(w http.ResponseWriter, r *http.Request, u *server.User) {
	nu := server.NewUser{Username: r.PostFormValue("username"), DisplayName: r.PostFormValue("display_name"), Role: r.PostFormValue("role"),
		Township: strings.TrimSpace(r.PostFormValue("township")), Password: r.PostFormValue("password"), FullNumbers: r.PostFormValue("full_numbers") == "1"}
	created, err := h.Store.CreateUser(r.Context(), nu)
	if msg := userError(err); msg != "" {
		h.fail(w, r, u, http.StatusBadRequest, "不能创建账号："+msg)
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	h.audit(r, u, server.AuditUserCreate, created.Username, server.RoleLabel[created.Role]+" "+created.Township)
	http.Redirect(w, r, "/users?msg=created", http.StatusSeeOther)
}

func (h *Handler) handlePostUserUpdate(w http.ResponseWriter, r *http.Request, u *server.User) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	target, err := h.Store.User(r.Context(), id)
	if msg := userError(err); msg != "" {
		h.fail(w, r, u, http.StatusNotFound, msg)
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	disabled := r.PostFormValue("disabled") == "1"
	if target.ID == u.ID && (disabled || r.PostFormValue("role") != server.RoleAdmin) {
		h.fail(w, r, u, http.StatusBadRequest, "不能停用自己的账号或取消自己的管理员角色")
		return
	}
	err = h.Store.UpdateUser(r.Context(), id, r.PostFormValue("role"), strings.TrimSpace(r.PostFormValue("township")), r.PostFormValue("full_numbers") == "1", disabled, r.PostFormValue("password"))
	if msg := userError(err); msg != "" {
		h.fail(w, r, u, http.StatusBadRequest, "不能保存："+msg)
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	detail := server.RoleLabel[r.PostFormValue("role")] + " " + r.PostFormValue("township")
	if disabled {
		detail += " 停用"
	}
	if r.PostFormValue("full_numbers") == "1" {
		detail += " 可见完整号码"
	}
	if r.PostFormValue("password") != "" {
		detail += " 重设密码"
	}
	h.audit(r, u, server.AuditUserUpdate, target.Username, detail)
	http.Redirect(w, r, "/users?msg=saved", http.StatusSeeOther)
}

func (h *Handler) handleGetAudit(w http.ResponseWriter, r *http.Request, u *server.User) {
	q := r.URL.Query()
	pg := max(1, atoi(q.Get("page"), 1))
	f := server.AuditFilter{Username: strings.TrimSpace(q.Get("user")), Action: q.Get("action"), Limit: 100, Offset: (pg - 1) * 100}
	if t, err := zone.ParseDate(q.Get("from")); err == nil {
		f.From = t
	}
	if t, err := zone.ParseDate(q.Get("to")); err == nil {
		f.To = t.AddDate(0, 0, 1)
	}
	entries, total, err := h.Store.AuditLog(r.Context(), f)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	var actions [][2]string
	for k, v := range server.AuditLabel {
		actions = append(actions, [2]string{k, v})
	}
	slices.SortFunc(actions, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	q.Del("page")
	data := map[string]any{"Entries": entries, "Total": total, "Page": pg, "Pages": max(1, (total+99)/100), "Q": q, "Query": template.URL(q.Encode()), "Actions": actions}
	h.render(w, r, http.StatusOK, "audit", page{Title: "审计日志", Nav: "audit", Data: data})
}

func (h *Handler) handleGetSettings(w http.ResponseWriter, r *http.Request, u *server.User) {
	p := h.Store.Policy(r.Context())
	type catDays struct {
		Cat  string
		Days int
	}
	var cats []catDays
	for _, c := range records.PersonCategories {
		cats = append(cats, catDays{c, p.Days[c]})
	}
	h.render(w, r, http.StatusOK, "settings", page{Title: "设置", Nav: "settings", Data: map[string]any{"Policy": p, "Cats": cats, "SilentDays": h.silentDays(r)}})
}

func (h *Handler) handlePostSettings(w http.ResponseWriter, r *http.Request, u *server.User) {
	p := server.VisitPolicy{Days: map[string]int{}, DefaultDays: atoi(r.PostFormValue("default_days"), 90), ReviewMonth: atoi(r.PostFormValue("review_months"), 12)}
	var parts []string
	for _, c := range records.PersonCategories {
		if n := atoi(r.PostFormValue("days_"+c), 0); n > 0 {
			p.Days[c] = n
			parts = append(parts, fmt.Sprintf("%s %d天", c, n))
		}
	}
	if p.DefaultDays <= 0 || p.DefaultDays > 3650 || p.ReviewMonth <= 0 || p.ReviewMonth > 120 {
		h.fail(w, r, u, http.StatusBadRequest, "走访间隔应为1–3650天，复核周期应为1–120个月")
		return
	}
	silent := atoi(r.PostFormValue("silent_days"), 3)
	if err := h.Store.SetSetting(r.Context(), "visit_policy", p); err != nil {
		h.internal(w, r, err)
		return
	}
	if err := h.Store.SetSetting(r.Context(), "silent_days", max(1, silent)); err != nil {
		h.internal(w, r, err)
		return
	}
	h.audit(r, u, server.AuditSettings, "visit_policy", fmt.Sprintf("默认%d天 %s 复核%d个月 失联%d天", p.DefaultDays, strings.Join(parts, " "), p.ReviewMonth, silent))
	http.Redirect(w, r, "/settings?msg=saved", http.StatusSeeOther)
}

// ---- JSON API (same scope as the pages) ----

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
	total, err := h.Store.List(r.Context(), kind, f, !u.FullNumbers, func(row server.Row) error {
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
			var s string
			if json.Unmarshal(v, &s) == nil {
				out.Fields[k] = records.JSONText(displayMask(k, s))
			} else {
				out.Fields[k] = json.RawMessage(maskText(string(v)))
			}
		}
		out.Conflicts = nil
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(out)
}

func displayMask(name, s string) string {
	switch name {
	case "id_number":
		return idcard.Mask(s)
	case "phone":
		return idcard.MaskPhone(s)
	}
	return maskText(s)
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

// places lists the filter choices of a user: each township (for county
// staff), then its villages.
func (h *Handler) places(r *http.Request, u *server.User) []string {
	villages, _ := h.Store.Villages(r.Context(), u.Scope())
	var out []string
	last := ""
	for _, v := range villages {
		if t := v[:9]; t != last && u.Scope() == "" {
			out = append(out, t)
			last = t
		}
		out = append(out, v)
	}
	return out
}

// ---- One's own account ----

func (h *Handler) handleGetAccount(w http.ResponseWriter, r *http.Request, u *server.User) {
	h.render(w, r, http.StatusOK, "account", page{Title: "我的账号", Nav: "account", Data: map[string]any{"Min": server.MinPasswordLen}})
}

func (h *Handler) handlePostAccount(w http.ResponseWriter, r *http.Request, u *server.User) {
	cur, pw, again := r.PostFormValue("current"), r.PostFormValue("password"), r.PostFormValue("again")
	fail := func(msg string) {
		h.render(w, r, http.StatusBadRequest, "account", page{Title: "我的账号", Nav: "account", Err: msg, Data: map[string]any{"Min": server.MinPasswordLen}})
	}
	if pw != again {
		fail("两次输入的新密码不一致")
		return
	}
	switch err := h.Store.ChangePassword(r.Context(), u.ID, cur, pw); {
	case errors.Is(err, server.ErrWeakPassword):
		fail(fmt.Sprintf("新密码至少 %d 位", server.MinPasswordLen))
		return
	case errors.Is(err, server.ErrBadLogin):
		fail("当前密码不正确")
		return
	case errors.Is(err, server.ErrLocked):
		fail(fmt.Sprintf("当前密码连续%d次不正确，账号已锁定%d分钟；请稍后再试或请管理员重设密码。", server.MaxFailedLogins, int(server.LockoutFor.Minutes())))
		return
	case errors.Is(err, server.ErrBusy):
		w.Header().Set("Retry-After", "2")
		fail(msgBusy)
		return
	case err != nil:
		h.internal(w, r, err)
		return
	}
	h.audit(r, u, server.AuditUserUpdate, u.Username, "本人修改密码")
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// ---- Home ----

// homeCounts are what needs the county's attention now, for the home page
// and the menu.
type homeCounts struct {
	Urgent, Submitted, Silent int
}

// attention counts, within u's scope, 紧急 visits nobody has followed,
// applications waiting to be accepted, and stations silent for more than
// the configured days; silent lists those stations.
func (h *Handler) attention(r *http.Request, u *server.User) (homeCounts, []server.Station, int) {
	var c homeCounts
	ctx := r.Context()
	if _, n, err := h.Store.FollowUpPage(ctx, server.FollowUrgent, u.Scope(), "", h.today(), 1, 0, true); err == nil {
		c.Urgent = n
	}
	if st, err := h.Store.StatusCounts(ctx, u.Scope()); err == nil {
		c.Submitted = st[records.StatusSubmitted]
	}
	days := h.silentDays(r)
	since := h.Now().Add(-time.Duration(days) * 24 * time.Hour)
	var silent []server.Station
	if list, err := h.Store.StationsIn(ctx, u.Scope()); err == nil {
		for _, st := range list {
			if st.RevokedAt == nil && (st.LastContactAt == nil || st.LastContactAt.Before(since)) {
				silent = append(silent, st)
			}
		}
	}
	c.Silent = len(silent)
	return c, silent, days
}

// handleGetHome is where county staff land: what to do first.
func (h *Handler) handleGetHome(w http.ResponseWriter, r *http.Request, u *server.User) {
	c, silent, days := h.attention(r, u)
	urgent, _, err := h.Store.FollowUpPage(r.Context(), server.FollowUrgent, u.Scope(), "", h.today(), 10, 0, !u.FullNumbers)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	data := map[string]any{"Counts": c, "Urgent": urgent, "UrgentCols": server.FollowUpColumns(server.FollowUrgent), "Silent": silent, "SilentDays": days}
	h.render(w, r, http.StatusOK, "home", page{Title: "首页", Nav: "home", Data: data})
}
