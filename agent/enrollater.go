package agent

import (
	"context"
	"errors"

	"stationsync/syncproto"
)

// EnrolLater keeps an enrolment to complete when the county can be reached:
// Run tries it on every round until it succeeds, and until then the
// station records offline as usual.
func (a *Agent) EnrolLater(ctx context.Context, serverURL, code string) error {
	otp, pin := syncproto.SplitEnrolCode(code)
	if otp == "" {
		return errors.New("注册码格式不正确")
	}
	if err := checkPinnedURL(serverURL, pin); err != nil {
		return err
	}
	return a.Store.SetMeta(ctx, map[string]string{"enrol_server": serverURL, "enrol_code": code})
}

// PendingEnrolment returns the server of an enrolment kept for later ("" if
// none).
func (a *Agent) PendingEnrolment(ctx context.Context) string {
	if a.Enrolled(ctx) {
		return ""
	}
	return a.Store.Meta(ctx, "enrol_server")
}

// enrolPending completes a kept enrolment; true when the station is now
// enrolled. A refusal (a used or expired code) stays in last_error, where
// the pages and status show it: the cadre needs a new code.
func (a *Agent) enrolPending(ctx context.Context) bool {
	server, code := a.Store.Meta(ctx, "enrol_server"), a.Store.Meta(ctx, "enrol_code")
	if server == "" || code == "" {
		return false
	}
	if _, err := a.Enroll(ctx, server, code); err != nil {
		a.Store.SetMeta(ctx, map[string]string{"last_error": "注册未完成: " + err.Error()})
		var pe *syncproto.Error
		if !errors.As(err, &pe) {
			a.logger.Info("enrolment kept for later: county not reachable", "err", err)
		} else {
			a.logger.Error("enrolment refused by the county", "code", pe.Code, "reason", pe.Message)
		}
		return false
	}
	a.Store.SetMeta(ctx, map[string]string{"enrol_server": "", "enrol_code": "", "last_error": ""})
	return true
}
