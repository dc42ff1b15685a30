package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"stationsync/agent"
	"stationsync/syncproto"
)

// Enrollment from the pages. Only a cadre who is logged in may enrol (the
// first run makes the first account, logs it in, then comes here): before
// this, any program on the PC could post a county address and a code and
// send a station full of records to a county of its choosing. After the
// county answers, records made before enrolment wait until the cadre has
// read the county's name and code and confirmed them (agent/confirm.go).

type enrollData struct {
	Form *form
	E    *agent.Enrollment // nil: not enrolled
}

func (s *Server) handleGetEnroll(w http.ResponseWriter, r *http.Request, se *session) {
	d := enrollData{Form: newForm(nil), E: s.a.Enrollment(r.Context())}
	s.render(w, r, se, http.StatusOK, "enroll", page{Title: "站点注册", Nav: "settings", Data: d})
}

func (s *Server) handlePostEnroll(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	v, ok := postedForm(w, r)
	if !ok {
		return
	}
	f := newForm(v)
	server := strings.TrimRight(trimmed(v, "server"), "/")
	if server != "" && !strings.Contains(server, "://") {
		server = "http://" + server
		v.Set("server", server)
	}
	code := trimmed(v, "code")
	if server == "" {
		f.fail("server", "请填写县级服务器地址，如 http://10.1.2.3:8870")
	} else if u, err := url.Parse(server); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		f.fail("server", "地址格式不对，应像 http://10.1.2.3:8870")
	}
	if code == "" {
		f.fail("code", "请填写县里给的注册码（10 位，如 ABCDE-FGHJK）")
	}
	if s.a.Enrolled(ctx) {
		f.fail("_form", "这台电脑已经注册过，无需再次注册")
	}
	if f.OK() {
		ectx, cancel := context.WithTimeout(ctx, 30*time.Second)
		resp, err := s.a.Enroll(ectx, server, code)
		cancel()
		if err != nil {
			field, msg := enrollReason(err)
			f.fail(field, msg)
			s.log.Warn("enrolment failed", "server", server, "by", se.account.Name, "err", err)
		} else {
			s.log.Info("station enrolled from the pages", "station", resp.StationID, "village", resp.Village, "by", se.account.Name)
			e := s.a.Enrollment(ctx)
			if e != nil && e.Unconfirmed {
				s.flash(se, "ok", "注册成功。请核对下面的县级服务器，确认后才会上传本站之前录入的记录")
				s.redirect(w, r, "/enroll")
				return
			}
			s.a.Nudge()
			s.flash(se, "ok", "注册成功："+countyLine(e))
			s.redirect(w, r, "/")
			return
		}
	}
	s.render(w, r, se, http.StatusUnprocessableEntity, "enroll", page{Title: "站点注册", Nav: "settings", Data: enrollData{Form: f}})
}

// countyLine names the county and village of an enrolment in one line.
func countyLine(e *agent.Enrollment) string {
	if e == nil {
		return ""
	}
	return "县级服务器 " + named(e.CountyName, e.County) + "，村 " + named(e.VillageName, e.Village)
}

func named(name, code string) string {
	if name == "" {
		return code
	}
	return name + "（" + code + "）"
}

func (s *Server) handlePostEnrollConfirm(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	e := s.a.Enrollment(ctx)
	if err := s.a.ConfirmEnrollment(ctx); err != nil {
		if errors.Is(err, agent.ErrNothingToConfirm) {
			s.flash(se, "error", "没有等待确认的注册")
			s.redirect(w, r, "/enroll")
			return
		}
		s.fail(w, r, se, err)
		return
	}
	s.log.Info("enrolment confirmed from the pages", "station", e.StationID, "county", e.County, "by", se.account.Name)
	s.flash(se, "ok", "已确认："+countyLine(e)+"。之前录入的 "+strconv.Itoa(e.Records)+" 条记录开始上传")
	s.redirect(w, r, "/")
}

func (s *Server) handlePostEnrollCancel(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	e := s.a.Enrollment(ctx)
	if err := s.a.CancelEnrollment(ctx); err != nil {
		if errors.Is(err, agent.ErrNothingToConfirm) {
			s.flash(se, "error", "注册已经确认，不能取消；如有疑问请联系县里的信息员")
			s.redirect(w, r, "/enroll")
			return
		}
		s.fail(w, r, se, err)
		return
	}
	s.log.Warn("enrolment cancelled from the pages: not their county", "station", e.StationID, "county", e.County, "server", e.Server, "by", se.account.Name)
	s.flash(se, "ok", "已取消这次注册，记录都保留在本机。请向县里核对地址和注册码后重新注册")
	s.redirect(w, r, "/enroll")
}

// enrollReason says why enrolment failed, and which field to fix.
func enrollReason(err error) (field, msg string) {
	var pe *syncproto.Error
	if errors.As(err, &pe) {
		switch pe.Code {
		case syncproto.CodeCodeInvalid:
			return "code", "注册码不对：请核对县里给的注册码（不区分大小写，横线可省略）"
		case syncproto.CodeCodeUsed:
			return "code", "这个注册码已经用过了：请向县里要一个新的注册码"
		case syncproto.CodeCodeExpired:
			return "code", "这个注册码已过期：请向县里要一个新的注册码"
		case syncproto.CodeRateLimited:
			return "_form", "注册尝试太多，县级服务器暂时不再受理：请核对注册码，过几分钟再试"
		case "http":
			return "server", "这个地址不是县级服务器：请核对地址和端口"
		}
		return "_form", "县级服务器拒绝了注册：" + pe.Message
	}
	if strings.Contains(err.Error(), "已经注册") {
		return "_form", err.Error()
	}
	if strings.Contains(err.Error(), "证书") || strings.Contains(err.Error(), "x509") || strings.Contains(err.Error(), "certificate") {
		// A certificate that does not match the code's fingerprint, or
		// cannot be verified (a wrong PC clock): say so, not "no network".
		msg := err.Error()
		if !strings.Contains(msg, "证书") {
			msg = "县级服务器的证书无法验证：请检查电脑的日期时间是否正确，并核对服务器地址"
		}
		return "server", msg
	}
	if strings.Contains(err.Error(), "decode answer") {
		return "server", "这个地址不是县级服务器：请核对地址和端口"
	}
	return "_form", "连不上县级服务器，现在无法注册。可以先离线录入，联网后再完成注册。"
}
