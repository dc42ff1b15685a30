package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"stationsync/internal/idcard"
	"stationsync/internal/records"
	"stationsync/server"
)

// The 救助对象公示 an approval of 低保 or 特困 offers: drafted from the
// application, masked whatever is typed, created as a county record that
// flows down to the village's station.

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

// applicationOf returns the application the request's path names ({id}),
// within the user's scope, or answers the request itself and reports
// false.
func (h *Handler) applicationOf(w http.ResponseWriter, r *http.Request, u *server.User) (*server.ApplicationBrief, bool) {
	a, err := h.Store.Application(r.Context(), r.PathValue("id"), u.Scope())
	if errors.Is(err, server.ErrNotFound) {
		h.fail(w, r, u, http.StatusNotFound, "没有这份申请，或不在您负责的范围内")
		return nil, false
	}
	if err != nil {
		h.internal(w, r, err)
		return nil, false
	}
	return a, true
}

func (h *Handler) handleGetDisclosureForm(w http.ResponseWriter, r *http.Request, u *server.User) {
	a, ok := h.applicationOf(w, r, u)
	if !ok {
		return
	}
	h.render(w, r, http.StatusOK, "disclosure", page{Title: "生成救助对象公示", Nav: "applications", Msg: messages["decided"], Data: h.disclosureDraft(a)})
}

func (h *Handler) handlePostDisclosure(w http.ResponseWriter, r *http.Request, u *server.User) {
	a, ok := h.applicationOf(w, r, u)
	if !ok {
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
