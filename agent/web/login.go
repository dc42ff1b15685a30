package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"stationsync/agent"
	"stationsync/internal/loginguard"
)

// pinPolicy: five wrong PINs in a row lock the account for a minute, and
// every wrong PIN after that doubles the wait, up to a quarter of an hour;
// one failure is forgotten every quarter of an hour, and the right PIN
// forgives the failures before it. A wrong PIN is counted before its hash
// runs, so PINs typed (or scripted) at once cannot all be tried.
//
// The lock is per account and in memory. A station's pages listen on the
// PC itself, so there is no address to tell guessers from cadres, and
// whoever can restart the service to clear it already sits at the PC's
// keyboard with more direct ways in.
var pinPolicy = loginguard.Policy{Tries: 5, Base: time.Minute, Max: 15 * time.Minute, Forget: 15 * time.Minute, SuccessForgives: true}

const (
	msgPINBusy = "登录的人太多，请稍等几秒再试。"
	busyRetry  = 2 * time.Second
)

// pinCheck is what checking a cadre's PIN came to.
type pinCheck struct {
	acc   *agent.Account // the PIN matched
	wrong bool           // the PIN was checked and did not match
	msg   string         // what to tell the cadre when acc is nil
	retry time.Duration  // > 0: refused without checking; answer 429 after this
}

// refuse sets Retry-After and returns the status of a refused check.
func (c pinCheck) refuse(w http.ResponseWriter) int {
	if c.retry <= 0 {
		return http.StatusUnprocessableEntity
	}
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int((c.retry+time.Second-1)/time.Second))))
	return http.StatusTooManyRequests
}

// checkPIN reserves an attempt on account id, checks pin, and settles.
func (s *Server) checkPIN(ctx context.Context, id int64, pin string) (pinCheck, error) {
	key := strconv.FormatInt(id, 10)
	t, wait := s.pinTries.Reserve(key)
	if t == nil {
		return pinCheck{msg: "密码错误次数太多，请" + waitText(wait) + "后再试", retry: wait}, nil
	}
	acc, err := s.a.Store.Authenticate(ctx, id, pin)
	switch {
	case err == nil:
		t.Settle(true)
		return pinCheck{acc: acc}, nil
	case errors.Is(err, agent.ErrBusy):
		t.Cancel()
		return pinCheck{msg: msgPINBusy, retry: busyRetry}, nil
	case errors.Is(err, agent.ErrBadPIN):
		t.Settle(false)
		if wait := s.pinTries.Wait(key); wait > 0 {
			return pinCheck{wrong: true, msg: "密码不对。已经错了好几次，请" + waitText(wait) + "后再试"}, nil
		}
		return pinCheck{wrong: true, msg: "密码不对，请再试一次"}, nil
	default:
		t.Cancel()
		return pinCheck{}, err
	}
}

// waitText says a wait in words a cadre reads at a glance.
func waitText(d time.Duration) string {
	if d < 2*time.Minute {
		return fmt.Sprintf(" %d 秒", max(1, int((d+time.Second-1)/time.Second)))
	}
	return fmt.Sprintf(" %d 分钟", int((d+time.Minute-1)/time.Minute))
}

func (s *Server) handlePostLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v, ok := postedForm(w, r)
	if !ok {
		return
	}
	f := newForm(v)
	id, _ := strconv.ParseInt(v.Get("account"), 10, 64)
	next := safeNext(v.Get("next"))
	status := http.StatusUnprocessableEntity
	var acc *agent.Account
	pin := pinText(v.Get("pin"))
	if id == 0 {
		f.fail("account", "请先点选您的名字")
	} else if strings.Trim(pin, "0123456789") != "" {
		// Every PIN is digits: this one cannot match, so it is neither
		// hashed nor counted, and the cadre learns what to type.
		f.fail("pin", "密码只有数字，不含字母、空格或符号。请检查输入法后重新输入")
	} else {
		c, err := s.checkPIN(ctx, id, pin)
		if err != nil {
			s.fail(w, r, nil, err)
			return
		}
		if acc = c.acc; acc == nil {
			status = c.refuse(w)
			f.fail("pin", c.msg)
		}
	}
	replay := v.Get("replay")
	if !f.OK() {
		f.Values.Del("pin")
		s.renderLogin(w, r, status, f, next, replay, replay != "")
		return
	}
	s.endSession(w, r)
	se := s.startSession(w, *acc)
	if agent.WeakPIN(pin) {
		s.flash(se, "error", fmt.Sprintf("您的密码只有 %d 位，容易被人猜中。请到「村干部账号」页改成 %d 到 %d 位数字。", len(pin), agent.MinPINDigits, agent.MaxPINDigits))
	}
	if replay != "" && next != "/" {
		// What was typed before the session ended, ready to post again.
		rv, _ := url.ParseQuery(replay)
		d := resumeData{Action: next}
		for k, vals := range rv {
			for _, x := range vals {
				d.Fields = append(d.Fields, resumeField{k, x})
			}
		}
		s.render(w, r, se, http.StatusOK, "resume", page{Title: "继续保存", Data: d})
		return
	}
	s.redirect(w, r, next)
}

type loginData struct {
	Accounts []agent.Account
	Form     *form
	Next     string
	Replay   string // a form posted after the session ended, to post again
	Expired  bool
}

// replayOf keeps a posted form for after the log-in, without any PIN.
func replayOf(v url.Values) string {
	keep := url.Values{}
	for k, x := range v {
		if !strings.Contains(k, "pin") {
			keep[k] = x
		}
	}
	return keep.Encode()
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, f *form, next, replay string, expired bool) {
	accs, err := s.a.Store.Accounts(r.Context())
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	if len(accs) == 1 && f.Get("account") == "" {
		f.Values.Set("account", strconv.FormatInt(accs[0].ID, 10))
	}
	s.render(w, r, nil, status, "login", page{Title: "选择登录人", Data: loginData{Accounts: enabled(accs), Form: f, Next: next, Replay: replay, Expired: expired}})
}

type resumeData struct {
	Action string
	Fields []resumeField
}

type resumeField struct{ Name, Value string }

func (s *Server) handleGetLogin(w http.ResponseWriter, r *http.Request) {
	if n, _ := s.a.Store.AccountCount(r.Context()); n == 0 {
		s.redirect(w, r, "/setup")
		return
	}
	q := r.URL.Query()
	s.renderLogin(w, r, http.StatusOK, newForm(nil), safeNext(q.Get("next")), "", q.Get("expired") != "")
}

func enabled(accs []agent.Account) []agent.Account {
	var out []agent.Account
	for _, a := range accs {
		if !a.Disabled {
			out = append(out, a)
		}
	}
	return out
}

func (s *Server) handlePostLogout(w http.ResponseWriter, r *http.Request) {
	s.endSession(w, r)
	s.redirect(w, r, "/login")
}
