package web

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"stationsync/internal/records"
	"stationsync/server"
)

// The review queue and decisions: which decisions an application's status
// allows, the bulk form, and the decision itself, scoped per application.

func (h *Handler) handleGetApplications(w http.ResponseWriter, r *http.Request, u *server.User) {
	if !r.URL.Query().Has("status") {
		q := r.URL.Query()
		q.Set("status", records.StatusSubmitted)
		r.URL.RawQuery = q.Encode()
	}
	h.list(w, r, u, records.Application, "list", "applications", true)
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
// one action: county reviewers may, unless the setting server.SettingDirectApprove
// is false; a township office takes each step itself.
func (h *Handler) directDecision(ctx context.Context, u *server.User) bool {
	if u.Role == server.RoleTownship {
		return false
	}
	return h.Store.DirectApprove(ctx)
}

var decisionOps = map[string]records.Op{"accept": records.OpAccept, "review": records.OpReview, "approve": records.OpApprove, "reject": records.OpReject, "return": records.OpReturn}

var opLabel = map[records.Op]string{records.OpAccept: "受理", records.OpReview: "进入审核", records.OpApprove: "批准", records.OpReject: "不予批准", records.OpReturn: "退回补充"}

func (h *Handler) handlePostDecide(w http.ResponseWriter, r *http.Request, u *server.User) {
	multi := strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data")
	var formErr error
	if multi {
		// Documents staff attach to the decision (decision_docs.go).
		r.Body = http.MaxBytesReader(w, r.Body, maxDecisionUpload)
		formErr = r.ParseMultipartForm(8 << 20)
	} else {
		r.ParseForm()
	}
	if formErr != nil {
		msg := "没有收到完整的表单，请重新选择文件后再提交。"
		if _, ok := errors.AsType[*http.MaxBytesError](formErr); ok {
			msg = "随决定下发的文件合计太大（超过 " + mb(maxDecisionUpload) + "），决定没有记录。请少选几个文件，或先缩小后再提交。"
		}
		h.fail(w, r, u, http.StatusBadRequest, msg)
		return
	}
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
	// Every file is checked before anything is stored or decided: one
	// refused file leaves every application as it was.
	if multi {
		docs, msg, err := h.decisionDocuments(r)
		if err != nil {
			h.internal(w, r, err)
			return
		}
		if msg != "" {
			fail(http.StatusBadRequest, msg)
			return
		}
		d.Documents = docs
	}
	var failed []string
	var done []string
	// The scope is checked per application: a bulk decision cannot reach
	// another township's application by a forged id, nor attach a file
	// to one.
	var apps []*server.ApplicationBrief
	for _, id := range ids {
		a, err := h.Store.Application(r.Context(), id, u.Scope())
		if errors.Is(err, server.ErrNotFound) {
			failed = append(failed, id+"：没有这份申请，或不在您负责的范围内")
			continue
		}
		if err != nil {
			h.internal(w, r, err)
			return
		}
		apps = append(apps, a)
	}
	if len(apps) > 0 && len(d.Documents) > 0 {
		if err := server.StoreDocuments(r.Context(), h.filesDir(), d.Documents); err != nil {
			h.internal(w, r, err)
			return
		}
	}
	for _, a := range apps {
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
		if n := len(d.Documents); n > 0 {
			detail += fmt.Sprintf(" 附决定文件 %d 个", n)
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

// chineseReason strips the English prefix of a wrapped store error, which
// carries the merge's Chinese reason after ": ".
func chineseReason(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}
