package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"stationsync/server"
)

// Accounts: the administrators' user list and forms, and each user's own
// password.

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
	if nu.Role == "" {
		// The list opens on 请选择: an account gets the role someone chose,
		// never the first of the list by default.
		h.fail(w, r, u, http.StatusBadRequest, "不能创建账号：请选择角色")
		return
	}
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
