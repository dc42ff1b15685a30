package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"stationsync/internal/logging"
	"stationsync/server"
)

// serve's observability: the log format, and the metrics (server/probes.go
// says who may read them).

const obsUsage = `
Observability (serve):
  county-server serve ... [--log-format text|json] [--metrics-addr 127.0.0.1:9464] [--metrics-token-file F]
      /healthz and /readyz answer on the main listener (and on the metrics one).
      /metrics (Prometheus) answers on --metrics-addr — loopback, or any address
      when a token is set — and on the main listener only to "Authorization:
      Bearer TOKEN" with the token of --metrics-token-file (16+ characters).
      Environment instead of flags: LOG_FORMAT, STATIONSYNC_METRICS_ADDR,
      STATIONSYNC_METRICS_TOKEN_FILE (LOG_LEVEL sets the level).
`

// Environment variables serve reads the flags' defaults from (a systemd
// drop-in's Environment= lines, no command line to edit).
const (
	envMetricsAddr  = "STATIONSYNC_METRICS_ADDR"
	envMetricsToken = "STATIONSYNC_METRICS_TOKEN_FILE"
)

type obsFlags struct {
	logFormat, metricsAddr, tokenFile *string
}

func addObsFlags(fs *flag.FlagSet) obsFlags {
	return obsFlags{
		logFormat:   fs.String("log-format", os.Getenv(logging.EnvFormat), "log lines as text or json (default $"+logging.EnvFormat+" or text)"),
		metricsAddr: fs.String("metrics-addr", os.Getenv(envMetricsAddr), "serve /metrics, /healthz and /readyz on this address too, e.g. 127.0.0.1:9464 (default $"+envMetricsAddr+"; empty: none)"),
		tokenFile:   fs.String("metrics-token-file", os.Getenv(envMetricsToken), "file holding the bearer token /metrics requires on the main listener and off loopback (default $"+envMetricsToken+")"),
	}
}

// format is the log format asked for; a name it does not know is text,
// with the error to log (as a bad LOG_LEVEL: a typo must not keep a
// service from starting).
func (f obsFlags) format() (logging.Format, error) {
	ft, err := logging.ParseFormat(*f.logFormat)
	if err != nil {
		return logging.FormatText, err
	}
	return ft, nil
}

// token reads the metrics token; none without a file. A file that is
// named but unreadable or too short stops the start: the operator asked
// for protected metrics.
func (f obsFlags) token() (string, error) {
	if *f.tokenFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(*f.tokenFile)
	if err != nil {
		return "", fmt.Errorf("--metrics-token-file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < server.MinMetricsToken || strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("--metrics-token-file %s: the token must be one word of at least %d characters", *f.tokenFile, server.MinMetricsToken)
	}
	return tok, nil
}

// setupMetrics turns on srv's metrics and, with --metrics-addr, their own
// listener (which ends with srv's jobs).
func setupMetrics(srv *server.Server, st *server.CountyStore, f obsFlags, token string, logger *slog.Logger) error {
	srv.Metrics = server.NewMetrics(st)
	srv.MetricsToken = token
	st.SetPushObserver(srv.Metrics)
	addr := *f.metricsAddr
	if addr == "" {
		return nil
	}
	if err := server.CheckMetricsListener(addr, token); err != nil {
		return fmt.Errorf("--metrics-addr: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--metrics-addr: %w", err)
	}
	logger.Info("metrics listening", "addr", ln.Addr().String(), "token", token != "")
	return srv.Go("metrics listener", func(ctx context.Context) error { return srv.ServeMetrics(ctx, ln, token) })
}
