// Package server is the county server: it enrolls stations, merges the
// changes they push, keeps the change feed they pull, and takes the
// county's decisions.
package server

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"stationsync/internal/background"
	"stationsync/internal/failpoint"
	"stationsync/syncproto"
)

// Server serves the station API over HTTP.
type Server struct {
	Store  Store
	Logger *slog.Logger
	// MaxInflight bounds concurrent sync requests; beyond it a station is
	// told to come back later (503 + Retry-After) instead of the server
	// falling over when a whole county returns online at once.
	MaxInflight int
	// QueueWait is how long a request may wait for a slot.
	QueueWait time.Duration
	Now       func() time.Time
	// Web, if set, serves every path the station API does not: the
	// county's staff pages and public portal (package server/web).
	Web http.Handler
	// Limits: who may take a slot, and the pace of bodies (gate.go).
	Limits
	// Files: where attachments go and how large they may be (files.go).
	Files FileConfig
	// Metrics, if set, records what the handler answers (metrics.go);
	// MetricsToken, if set, lets /metrics on this handler answer a request
	// bearing it (probes.go: who may read the metrics).
	Metrics      *Metrics
	MetricsToken string
	unready      atomic.Bool // /readyz's last answer, to log changes only

	// The handler's state, made by NewHandler: the sync slots and the
	// gates in front of them (gate.go, enrollgate.go).
	slots  chan struct{}
	gate   gate
	enroll *enrollGate
	// bg is the county's background work started with Go (the staff
	// pages' refresher, the certificate's renewal): it ends at Close,
	// which waits for it, so nothing outlives the store.
	bg background.Group
}

// Go runs job in the background until it returns or the server is
// closed; its error, if any, is logged and returned by Close.
func (s *Server) Go(name string, job func(ctx context.Context) error) error {
	return s.bg.Go(func(ctx context.Context) error {
		err := job(ctx)
		if err == nil || errors.Is(err, context.Canceled) {
			return nil
		}
		s.Logger.Error("background job stopped", "job", name, "err", err)
		return fmt.Errorf("%s: %w", name, err)
	})
}

// Close stops the jobs started with Go, waits for them and returns the
// first error one returned. The store is the caller's to close, after.
func (s *Server) Close() error { return s.bg.Close() }

// New returns a server over store.
func New(store Store, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.Default()
	}
	return &Server{Store: store, Logger: logger, MaxInflight: 16, QueueWait: 2 * time.Second, Now: time.Now, Limits: DefaultLimits()}
}

// NewHandler makes the station API's handler: its routes, its MaxInflight
// sync slots and the gates of Limits, sized by the settings above, which
// are read now and must be set before. A Server makes one handler: a
// second would give the same stations a second set of slots (it used to,
// each time the getter Handler was called), so a second call panics.
func (s *Server) NewHandler() http.Handler {
	if s.slots != nil {
		panic("server: NewHandler called twice on one Server")
	}
	s.slots = make(chan struct{}, max(1, s.MaxInflight))
	s.gate.legacy = make(chan struct{}, max(1, s.LegacySlots))
	s.enroll = newEnrollGate()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/enroll", s.handlePostEnroll)
	// Push and pull pass the gate (gate.go) before they take a slot.
	mux.HandleFunc("POST /v1/push", s.handlePostPush)
	mux.HandleFunc("GET /v1/pull", s.handleGetPull)
	s.fileRoutes(mux)  // files.go: attachments, with slots of their own
	s.probeRoutes(mux) // probes.go: /healthz, /readyz, /metrics
	if s.Web != nil {
		mux.Handle("/", s.Web)
	}
	return s.observe(s.withServerTime(s.pacedBodies(mux))) // observe.go: request ids, metrics
}

func (s *Server) withServerTime(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(syncproto.HeaderServerTime, strconv.FormatInt(s.Now().UnixMilli(), 10))
		defer func() {
			// No panic reaches a station as a dropped connection: it gets a
			// 500 it can retry, and the operator gets the stack in the log.
			if p := recover(); p != nil {
				s.Logger.ErrorContext(r.Context(), "panic in handler", "path", r.URL.Path, "panic", p)
				writeError(w, http.StatusInternalServerError, syncproto.CodeInternal, "县级服务器内部错误，请稍后再试", 0)
			}
		}()
		h.ServeHTTP(w, r)
	})
}

func (s *Server) checkVersion(w http.ResponseWriter, r *http.Request) bool {
	v, err := strconv.Atoi(r.Header.Get(syncproto.HeaderVersion))
	if err != nil {
		writeError(w, http.StatusBadRequest, syncproto.CodeVersion, "请求缺少协议版本，请升级村站通客户端", 0)
		return false
	}
	if err := syncproto.CheckVersion(v); err != nil {
		s.writeVersionError(w, v)
		return false
	}
	return true
}

func (s *Server) writeVersionError(w http.ResponseWriter, v int) {
	msg := "客户端协议版本 " + strconv.Itoa(v) + " 与县级服务器（版本 " + strconv.Itoa(syncproto.Version) + "）不兼容，请升级村站通"
	if v > syncproto.Version {
		msg = "客户端协议版本 " + strconv.Itoa(v) + " 比县级服务器（版本 " + strconv.Itoa(syncproto.Version) + "）新，请联系县里升级服务器"
	}
	var eb syncproto.ErrorBody
	eb.Error.Code, eb.Error.Message, eb.Error.Server = syncproto.CodeVersion, msg, syncproto.Version
	writeJSON(w, http.StatusBadRequest, eb)
}

func (s *Server) handlePostEnroll(w http.ResponseWriter, r *http.Request) {
	// Counted before the body is read (enrollgate.go); every refusal below
	// is audited.
	at := s.admitAddr(w, r)
	if at == nil {
		return
	}
	fail := func(status int, code, msg, reason, enrollCode string, req *syncproto.EnrollRequest) {
		s.auditEnrollFailure(r, reason, enrollCode, "", req)
		writeError(w, status, code, msg, 0)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		fail(http.StatusRequestEntityTooLarge, syncproto.CodeTooLarge, "注册请求过大", "请求过大", "", nil)
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, syncproto.CodeBadRequest, "注册请求中断，请重试", 0)
		return
	}
	var req syncproto.EnrollRequest
	if err := json.Unmarshal(body, &req); err != nil {
		fail(http.StatusBadRequest, syncproto.CodeBadRequest, "注册请求格式不正确", "请求格式不正确", "", nil)
		return
	}
	if err := syncproto.CheckVersion(req.Version); err != nil {
		s.auditEnrollFailure(r, "协议版本 "+strconv.Itoa(req.Version)+" 不兼容", "", "", &req)
		s.writeVersionError(w, req.Version)
		return
	}
	if len(req.PublicKey) != ed25519.PublicKeySize {
		fail(http.StatusBadRequest, syncproto.CodeBadRequest, "注册请求缺少有效的站点公钥", "缺少有效的站点公钥", "", &req)
		return
	}
	if !s.admitCode(w, r, at, req.Code) {
		s.auditEnrollFailure(r, "此注册码尝试过多，已暂停受理", req.Code, "", &req)
		return
	}
	st, err := s.Store.Enroll(r.Context(), req.Code, req.PublicKey, trunc(req.Hostname, 100), trunc(req.AgentVersion, 40))
	switch {
	case errors.Is(err, ErrCodeInvalid):
		fail(http.StatusBadRequest, syncproto.CodeCodeInvalid, "注册码不正确，请核对县里发放的注册码", "注册码不正确", "", &req)
		return
	case errors.Is(err, ErrCodeUsed):
		fail(http.StatusConflict, syncproto.CodeCodeUsed, "注册码已经用过，每个注册码只能用一次，请向县里申请新的注册码", "注册码已用过", req.Code, &req)
		return
	case errors.Is(err, ErrCodeExpired):
		fail(http.StatusGone, syncproto.CodeCodeExpired, "注册码已过期，请向县里申请新的注册码", "注册码已过期", req.Code, &req)
		return
	case err != nil:
		s.internal(w, r, err)
		return
	}
	at.succeeded(s.Now())
	// Not the hostname: a village PC is often named after its cadre (the
	// audit log keeps it, for those who may read it).
	s.Logger.InfoContext(r.Context(), "station enrolled", "station", st.ID, "village", st.Village)
	if a, ok := s.Store.(auditor); ok { // audit.go
		a.Audit(r.Context(), st.ID, AuditEnroll, st.Village, st.Hostname+" "+st.AgentVersion, r.RemoteAddr)
	}
	resp := syncproto.EnrollResponse{
		Version: syncproto.Version, StationID: st.ID, Village: st.Village, County: st.Village[:6], ServerTime: s.Now().UnixMilli(),
	}
	s.nameEnrollment(r.Context(), &resp) // enrollgate.go
	resp.BundleKey = s.bundlePublicKey() // bundle_key.go
	writeJSON(w, http.StatusOK, resp)
}

// station looks up an enrolled, not revoked station.
func (s *Server) station(w http.ResponseWriter, r *http.Request, id string) *Station {
	st, err := s.Store.Station(r.Context(), id)
	if errors.Is(err, ErrNoStation) {
		writeError(w, http.StatusUnauthorized, syncproto.CodeUnknownStn, "县里没有这个站点的注册记录，请重新注册", 0)
		return nil
	}
	if err != nil {
		s.internal(w, r, err)
		return nil
	}
	if st.RevokedAt != nil {
		writeError(w, http.StatusForbidden, syncproto.CodeRevoked, "这个站点已被县里停用，请联系县民政局", 0)
		return nil
	}
	return st
}

func (s *Server) handlePostPush(w http.ResponseWriter, r *http.Request) {
	a := s.admit(w, r)
	if a == nil {
		return
	}
	defer a.release()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, syncproto.MaxEnvelope+syncproto.MaxHeaderSize+128))
	read := time.Now()
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, syncproto.CodeTooLarge, "上传的数据包过大", 0)
			return
		}
		writeError(w, http.StatusBadRequest, syncproto.CodeBadRequest, "上传中断，稍后会自动重试", 0)
		return
	}
	st := a.st
	if a.bodyHash != "" && syncproto.BodyHash(body) != a.bodyHash {
		s.Logger.WarnContext(r.Context(), "push body differs from its signed hash", "station", st.ID, "remote", r.RemoteAddr)
		writeError(w, http.StatusUnauthorized, syncproto.CodeBadSignature, "上传的数据与请求签名不符，稍后会自动重试", 0)
		return
	}
	env, n, err := syncproto.ParseEnvelope(body)
	if err != nil || n != len(body) {
		writeError(w, http.StatusBadRequest, syncproto.CodeBadRequest, "数据包格式不正确或不完整", 0)
		return
	}
	if err := syncproto.CheckVersion(env.Header.Version); err != nil {
		s.writeVersionError(w, env.Header.Version)
		return
	}
	if env.Header.Station != st.ID {
		// The slot and the limits were the signer's: the envelope must be
		// its own.
		s.Logger.WarnContext(r.Context(), "push of another station's envelope", "station", st.ID, "envelope", env.Header.Station, "remote", r.RemoteAddr)
		writeError(w, http.StatusUnauthorized, syncproto.CodeBadSignature, "数据包不是本站签名的，请重新注册站点", 0)
		return
	}
	b, err := env.Open(st.PublicKey)
	if errors.Is(err, syncproto.ErrBadSignature) {
		s.Logger.WarnContext(r.Context(), "push with a bad signature", "station", st.ID, "remote", r.RemoteAddr)
		writeError(w, http.StatusUnauthorized, syncproto.CodeBadSignature, "数据包签名无效，请重新注册站点", 0)
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, syncproto.CodeBadRequest, "数据包内容无效", 0)
		return
	}
	if b.Village != "" && b.Village != st.Village {
		writeError(w, http.StatusForbidden, syncproto.CodeWrongVillage, "数据包的村代码与站点注册的村不一致", 0)
		return
	}
	res, err := s.Store.Push(r.Context(), st, b)
	if err == nil {
		failpoint.Inject(failpoint.ServerAfterCommit)
	}
	var gap *GapError
	if errors.As(err, &gap) {
		writeError(w, http.StatusConflict, syncproto.CodeGap, "数据包顺序不连续，将从断点重新发送", gap.HWM)
		return
	}
	var reused *EpochReusedError
	if errors.As(err, &reused) {
		s.Logger.WarnContext(r.Context(), "station database restored from an older copy: change ids reused", "station", st.ID, "agreed_hwm", reused.HWM)
		writeError(w, http.StatusConflict, syncproto.CodeEpochReused, "本站数据库可能从旧备份恢复，未上传的修改将重新编号后发送", reused.HWM)
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.Logger.DebugContext(r.Context(), "push applied", "station", st.ID, "changes", len(b.Changes), "hwm", res.HWM)
	s.Metrics.pushed(res)
	res.ServerMs = (a.wait + time.Since(read)).Milliseconds()
	writeZJSON(w, res)
}

func (s *Server) handleGetPull(w http.ResponseWriter, r *http.Request) {
	a := s.admit(w, r)
	if a == nil {
		return
	}
	defer a.release()
	st, auth, now := a.st, a.auth, s.Now()
	q := r.URL.Query()
	after, _ := strconv.ParseInt(q.Get("after"), 10, 64)
	limit, _ := strconv.Atoi(q.Get("limit"))
	pending, _ := strconv.Atoi(q.Get("pending"))
	if err := s.Store.Touch(r.Context(), st.ID, pending, trunc(q.Get("agent"), 40), trunc(q.Get("last_error"), syncproto.MaxReportedError), auth.At.Sub(now)); err != nil {
		s.internal(w, r, err)
		return
	}
	page, err := s.Store.Pull(r.Context(), st, after, q.Get("feed"), limit)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.Metrics.pulled(page)
	page.BundleKey = s.bundlePublicKey() // bundle_key.go
	writeZJSON(w, page)
}

func (s *Server) internal(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return
	}
	s.Logger.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, syncproto.CodeInternal, "县级服务器内部错误，稍后会自动重试", 0)
}

func writeError(w http.ResponseWriter, status int, code, msg string, hwm uint64) {
	var eb syncproto.ErrorBody
	eb.Error.Code, eb.Error.Message, eb.Error.HWM = code, msg, hwm
	writeJSON(w, status, eb)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeZJSON(w http.ResponseWriter, v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, syncproto.CodeInternal, "县级服务器内部错误", 0)
		return
	}
	w.Header().Set("Content-Type", syncproto.ContentZJSON)
	w.WriteHeader(http.StatusOK)
	w.Write(syncproto.Compress(raw, syncproto.Fast))
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Serve runs the HTTP server on addr until ctx ends: with TLS under
// tlsCfg, plain HTTP when it is nil.
func (s *Server) Serve(ctx context.Context, addr string, tlsCfg *tls.Config) error {
	hs := s.httpServer(addr) // gate.go
	hs.TLSConfig = tlsCfg
	errc := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			errc <- hs.ListenAndServeTLS("", "")
		} else {
			errc <- hs.ListenAndServe()
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return hs.Shutdown(sctx)
	}
}
