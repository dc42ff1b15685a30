package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"crypto/hmac"
	"net"

	"stationsync/internal/loginguard"
	"stationsync/server"
)

// What holds a guesser back at the county, in the order a login meets it:
//
//  1. The address (addrPolicy): ten failures in a row pass; after that
//     each attempt from the address waits 1 s, doubling with every further
//     failure up to a minute, and one failure is forgotten a minute. A
//     township office behind one NAT address is slowed by seconds, never
//     locked out for a quarter of an hour, and a guesser gets at most about
//     one guess a minute from it, spread over every account.
//  2. The hash gate (server.MaxConcurrentHashes): logins beyond it are
//     answered "busy" with Retry-After at once.
//  3. The account (server.Login): five failures lock it for 15 minutes
//     for every browser but the ones it has logged in from before.
//  4. Those browsers (devicePolicy): a signed cookie per account, with its
//     own five-failure lock, so someone who keeps the account locked from
//     elsewhere does not lock its owner out (OWASP's "device cookies").
//
// Every counter counts the attempt before its hash runs and settles it
// after, so parallel attempts spend the budget as they start.
var (
	addrPolicy   = loginguard.Policy{Tries: 10, Base: time.Second, Max: time.Minute, Forget: time.Minute}
	devicePolicy = loginguard.Policy{Tries: server.MaxFailedLogins, Base: server.LockoutFor, Max: server.LockoutFor, Forget: server.LockoutFor, SuccessForgives: true}
)

// busyRetry is the Retry-After of a "busy" answer: a hash takes well under
// a second, so a few seconds find a free slot.
const busyRetry = 2 * time.Second

const (
	msgBusy = "登录的人太多，请稍等几秒再试。"
	// deviceCookieAge: a browser stays known for half a year after its
	// last login.
	deviceCookieAge  = 180 * 24 * time.Hour
	deviceKeySetting = "login_device_key"
)

// loginGuards is the handler's per-address and per-device state.
type loginGuards struct {
	once   sync.Once
	addr   *loginguard.Limiter
	device *loginguard.Limiter

	keyOnce sync.Once
	key     []byte
}

func (h *Handler) guards() *loginGuards {
	g := &h.login
	g.once.Do(func() {
		now := func() time.Time { return h.Now() }
		g.addr = loginguard.NewLimiter(addrPolicy, now)
		g.device = loginguard.NewLimiter(devicePolicy, now)
	})
	return g
}

// addrKey is whom the address limit counts: an IPv4 address, or an IPv6
// /64 (one household or office is given a whole /64).
func addrKey(r *http.Request) string {
	ip := net.ParseIP(remote(r))
	if ip == nil {
		return remote(r)
	}
	if ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip.String()
}

func (h *Handler) handlePostLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	username, password := r.PostFormValue("username"), r.PostFormValue("password")
	next := safeNext(r.PostFormValue("next"))
	data := map[string]string{"Next": next, "Username": username}
	refuse := func(wait time.Duration, msg string) {
		secs := max(1, int((wait+time.Second-1)/time.Second))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		h.render(w, r, http.StatusTooManyRequests, "login", page{Title: "登录", Err: msg, Data: data, Names: map[string]string{}})
	}
	g := h.guards()
	at, wait := g.addr.Reserve(addrKey(r))
	if at == nil {
		refuse(wait, fmt.Sprintf("这台电脑登录失败的次数较多，请%d秒后再试。", max(1, int((wait+time.Second-1)/time.Second))))
		return
	}
	device, known := h.knownDevice(r, username)
	var dt *loginguard.Ticket
	if known {
		if dt, wait = g.device.Reserve(device); dt == nil {
			at.Settle(false)
			h.audit(r, &server.User{Username: username}, server.AuditLoginFailed, username, "本机已锁定")
			refuse(wait, fmt.Sprintf("在这台电脑上连续%d次密码错误，已锁定，请%d分钟后再试，或请管理员重设密码。", server.MaxFailedLogins, minutesOf(wait)))
			return
		}
	}
	u, token, err := h.Store.Login(r.Context(), server.LoginRequest{Username: username, Password: password, Remote: remote(r), KnownDevice: known})
	switch {
	case errors.Is(err, server.ErrBusy):
		at.Cancel()
		dt.Cancel()
		refuse(busyRetry, msgBusy)
		return
	case errors.Is(err, server.ErrLocked):
		at.Settle(false)
		h.audit(r, &server.User{Username: username}, server.AuditLoginFailed, username, "账号已锁定")
		refuse(u.LockedUntil.Sub(h.Now()), fmt.Sprintf("连续%d次密码错误，账号已锁定，请%d分钟后再试，或请管理员重设密码。", server.MaxFailedLogins, minutesOf(u.LockedUntil.Sub(h.Now()))))
		return
	case errors.Is(err, server.ErrBadLogin):
		at.Settle(false)
		dt.Settle(false)
		h.audit(r, &server.User{Username: username}, server.AuditLoginFailed, username, "用户名或密码错误")
		h.render(w, r, http.StatusUnauthorized, "login", page{Title: "登录", Err: "用户名或密码不正确。", Data: data, Names: map[string]string{}})
		return
	case err != nil:
		at.Cancel()
		dt.Cancel()
		h.internal(w, r, err)
		return
	}
	at.Settle(true)
	dt.Settle(true)
	h.rememberDevice(w, r, u.Username, device)
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: token, Path: "/", HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode, MaxAge: int(server.SessionMax.Seconds())})
	h.audit(r, u, server.AuditLogin, u.Username, "")
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func minutesOf(d time.Duration) int { return max(1, int((d+time.Minute-1)/time.Minute)) }

// deviceCookieName is per account, so that colleagues sharing one PC each
// keep their own.
func deviceCookieName(username string) string {
	sum := sha256.Sum256([]byte(strings.TrimSpace(username)))
	return "ss_dev_" + hex.EncodeToString(sum[:6])
}

// deviceMAC signs a device id for one account.
func (h *Handler) deviceMAC(username, id string) string {
	m := hmac.New(sha256.New, h.deviceKey())
	m.Write([]byte("stationsync login device\x00" + strings.TrimSpace(username) + "\x00" + id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// knownDevice returns the browser's device id for username when its
// cookie carries a valid signature for that account.
func (h *Handler) knownDevice(r *http.Request, username string) (string, bool) {
	c, err := r.Cookie(deviceCookieName(username))
	if err != nil {
		return "", false
	}
	id, mac, ok := strings.Cut(c.Value, ".")
	if !ok || len(id) != 22 || !hmac.Equal([]byte(mac), []byte(h.deviceMAC(username, id))) {
		return "", false
	}
	return id, true
}

// rememberDevice gives (or renews) the browser's device cookie for the
// account it has just logged in to.
func (h *Handler) rememberDevice(w http.ResponseWriter, r *http.Request, username, id string) {
	if id == "" {
		b := make([]byte, 16)
		rand.Read(b)
		id = base64.RawURLEncoding.EncodeToString(b)
	}
	http.SetCookie(w, &http.Cookie{Name: deviceCookieName(username), Value: id + "." + h.deviceMAC(username, id), Path: "/login",
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: int(deviceCookieAge.Seconds())})
}

// deviceKey is the HMAC key of device cookies, kept in the settings so
// that a restart does not forget every known browser.
func (h *Handler) deviceKey() []byte {
	g := &h.login
	g.keyOnce.Do(func() {
		ctx := context.Background()
		var s string
		if err := h.Store.Setting(ctx, deviceKeySetting, &s); err == nil {
			if k, err := hex.DecodeString(s); err == nil && len(k) == 32 {
				g.key = k
				return
			}
		}
		g.key = make([]byte, 32)
		rand.Read(g.key)
		if err := h.Store.SetSetting(ctx, deviceKeySetting, hex.EncodeToString(g.key)); err != nil {
			h.Logger.Warn("keep login device key; known browsers will be forgotten at restart", "err", err)
		}
	})
	return g.key
}

func (h *Handler) handleGetLogin(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "login", page{Title: "登录", Data: map[string]string{"Next": safeNext(r.URL.Query().Get("next"))}, Names: map[string]string{}})
}

// safeNext keeps a redirect after login on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

func (h *Handler) handlePostLogout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(CookieName); err == nil {
		if u, err := h.Store.Session(r.Context(), c.Value); err == nil {
			h.audit(r, u, server.AuditLogout, u.Username, "")
		}
		h.Store.Logout(r.Context(), c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
