package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// The probes a load balancer and systemd ask — /healthz (the process
// answers) and /readyz (the store answers and its schema is this build's)
// — and /metrics, both on the main listener and on a listener of its own.
// (health.go is something else: the stations' sync health over time.)
//
// Who may read /metrics: the main listener is the one the public portal's
// visitors reach, often through a reverse proxy on the same machine, so
// there the source address proves nothing — a proxy's requests all come
// from 127.0.0.1, and X-Forwarded-For is whatever the visitor wrote. On it
// /metrics answers only a request bearing the metrics token
// (Authorization: Bearer …), and 404 when no token is configured. The
// listener of its own (serve --metrics-addr) serves /metrics to anyone
// who can connect: it must be on loopback unless a token is configured,
// and then the token is required there too.

// readiness is what /readyz asks the store (CountyStore.Ready).
type readiness interface {
	Ready(ctx context.Context) error
}

// readyTimeout bounds the store's answer to /readyz: a load balancer's
// probe must get an answer, not time out, when the store hangs.
const readyTimeout = 2 * time.Second

// probeRoutes adds the probes and /metrics to the main listener's mux,
// and the sync slots (made by NewHandler before) to the metrics.
func (s *Server) probeRoutes(mux *http.ServeMux) {
	s.Metrics.watchSlots(s.slots)
	mux.HandleFunc("GET /healthz", handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if s.Metrics == nil || s.MetricsToken == "" {
			http.NotFound(w, r)
			return
		}
		s.serveMetrics(w, r, s.MetricsToken)
	})
}

func handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte("ok\n"))
}

// Ready reports whether the server can serve: its store answers within
// readyTimeout and has this build's schema.
func (s *Server) Ready(ctx context.Context) error {
	rd, ok := s.Store.(readiness)
	if !ok {
		return nil // a store that cannot say is taken at its word
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	return rd.Ready(ctx)
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	err := s.Ready(r.Context())
	// Logged when readiness changes, not at every probe.
	if was := s.unready.Swap(err != nil); was != (err != nil) {
		if err != nil {
			s.Logger.WarnContext(r.Context(), "not ready", "err", err)
		} else {
			s.Logger.InfoContext(r.Context(), "ready again")
		}
	}
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: %s\n", oneLine(err.Error()))
		return
	}
	w.Write([]byte("ok\n"))
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

// serveMetrics answers a scrape that bears token (none needed if token is
// empty).
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request, token string) {
	if token != "" && !bearerOK(r.Header.Get("Authorization"), token) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
		http.Error(w, "metrics: a valid bearer token is required", http.StatusUnauthorized)
		return
	}
	if s.Metrics == nil {
		http.NotFound(w, r)
		return
	}
	s.Metrics.handler.ServeHTTP(w, r)
}

// bearerOK reports whether an Authorization header value carries token,
// compared in constant time (over hashes, so the length does not show).
func bearerOK(header, token string) bool {
	scheme, got, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	a, b := sha256.Sum256([]byte(strings.TrimSpace(got))), sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// MinMetricsToken is the shortest metrics token accepted.
const MinMetricsToken = 16

// CheckMetricsListener refuses a metrics listener that would show the
// metrics to anyone who can reach the address: off loopback it needs a
// token.
func CheckMetricsListener(addr, token string) error {
	if token != "" && len(token) < MinMetricsToken {
		return fmt.Errorf("metrics token too short (%d characters; at least %d)", len(token), MinMetricsToken)
	}
	if !IsLoopback(addr) && token == "" {
		return errors.New("metrics address " + addr + " is not loopback: give a metrics token too, or listen on 127.0.0.1")
	}
	return nil
}

// ServeMetrics serves /metrics, /healthz and /readyz on ln until ctx
// ends: the listener of the metrics' own (--metrics-addr), for a
// Prometheus on the same machine or on the operators' network.
func (s *Server) ServeMetrics(ctx context.Context, ln net.Listener, token string) error {
	if err := CheckMetricsListener(ln.Addr().String(), token); err != nil {
		ln.Close()
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) { s.serveMetrics(w, r, token) })
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return hs.Shutdown(sctx)
	}
}
