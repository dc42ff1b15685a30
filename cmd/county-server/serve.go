package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"stationsync/internal/atomicfile"
	"stationsync/internal/cli"
	"stationsync/internal/fileperm"
	"stationsync/internal/logging"
	"stationsync/internal/svcrun"
	"stationsync/internal/zone"
	"stationsync/server"
	"stationsync/server/web"
	"stationsync/syncproto"
)

// The staff pages, accounts and TLS of `serve`, and `user add|list`.

const webUsage = `
Staff pages and TLS:
  county-server serve ... [--tls-cert F --tls-key F | --hosts h1,h2] [--public-url URL] [--insecure-http]
      Off loopback the server speaks HTTPS: with the operator's certificate, or else
      with a certificate of its own CA (made on first start in DIR/tls; renewed
      automatically). Enrolment codes then carry the CA's fingerprint, which stations
      pin. Plain HTTP is refused off loopback unless --insecure-http (tests only).
  county-server user add --username NAME --name 姓名 --role admin|county|township
                         [--township CODE9] [--full-numbers]   password read from stdin
  county-server user list
`

type serveFlags struct {
	certFile, keyFile, hosts, publicURL *string
	insecure, tls                       *bool
}

func addServeFlags(fs *flag.FlagSet) serveFlags {
	return serveFlags{
		certFile:  fs.String("tls-cert", "", "operator's certificate chain (PEM); default: the own CA's"),
		keyFile:   fs.String("tls-key", "", "operator's private key (PEM)"),
		hosts:     fs.String("hosts", "", "names and IP addresses of the server for the own CA's certificate (default: the listen host)"),
		publicURL: fs.String("public-url", "", "the address stations enrol with, shown beside enrolment codes"),
		insecure:  fs.Bool("insecure-http", false, "allow plain HTTP off loopback (tests only)"),
		tls:       fs.Bool("tls", false, "use TLS even on loopback"),
	}
}

// runServe is `county-server serve`: the station API, the staff pages and
// TLS, in the foreground or under the service manager (--service), logged
// to the rotated file in the data directory (and standard error, which
// journald keeps).
func (e *env) runServe(ctx context.Context, args []string) error {
	fs, o := e.flags("serve")
	listen := fs.String("listen", "127.0.0.1:8870", "address to listen on")
	tz := fs.String("timezone", zone.Name(), "zone every page, export and the audit log show times in (IANA name); default $STATIONSYNC_TIMEZONE or "+zone.Default)
	webFlags := addServeFlags(fs)
	asService := fs.Bool("service", false, "run under the service manager (what install and the .deb register)")
	obs := addObsFlags(fs) // observe.go
	pruneAfter := fs.Duration("prune-uploads-after", 30*24*time.Hour, "drop a station's unfinished attachment upload untouched this long (0: never)")
	queueWait := fs.Duration("queue-wait", queueWaitDefault(), "how long a station's push or pull may wait for a sync slot before it is told to come back later (503 + Retry-After); default $"+envQueueWait+" or 2s (README: Capacity)")
	importDir := addImportDirFlags(fs) // import.go: a watched folder of villages' bundles
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	format, ferr := obs.format()
	token, err := obs.token()
	if err != nil {
		return err
	}
	if err := zone.Set(*tz); err != nil {
		return fmt.Errorf("--timezone 应为时区名，例如 %s：%w", zone.Default, err)
	}
	if err := os.MkdirAll(o.data, 0o700); err != nil {
		return err
	}
	// Before the log opens: an older release's log may be 0644.
	if err := fileperm.Dir(o.data); err != nil {
		fmt.Fprintln(e.Stderr, "警告：数据目录权限未能全部收紧:", err)
	}
	lv := new(slog.LevelVar)
	l, lerr := logging.LevelFromEnv()
	lv.Set(l)
	return svcrun.Run(ctx, svcrun.Options{Name: serviceName, Title: "county server", Version: Version, DataDir: logDir(o, *listen),
		AsService: *asService, Level: lv, Stderr: e.Stderr, Format: format}, func(ctx context.Context, logger *slog.Logger) error {
		if lerr != nil {
			logger.Warn("log level ignored", "err", lerr)
		}
		if ferr != nil {
			logger.Warn("log format ignored", "err", ferr)
		}
		return withStore(ctx, o, logger, func(st *server.CountyStore) error {
			srv := server.New(st, logger)
			srv.Files.PruneAfter = *pruneAfter
			if *queueWait > 0 {
				srv.QueueWait = *queueWait
			}
			if *pruneAfter <= 0 {
				srv.Files.PruneAfter = -1 // never
			}
			if err := setupMetrics(srv, st, obs, token, logger); err != nil {
				return err
			}
			if err := importDir.start(srv, st, logger); err != nil {
				return err
			}
			logger.Info("county server listening", "addr", *listen, "data", o.data, "db", st.DB().Engine(), "db_at", st.DB().Describe(), "version", Version)
			err := serveCounty(ctx, srv, st, *listen, o.data, webFlags, logger)
			// Its jobs end before the store closes.
			if cerr := srv.Close(); err == nil {
				err = cerr
			}
			return err
		})
	})
}

// logDir is the folder of the server's rotated log: the data directory,
// or, on PostgreSQL, where several servers share the data directory, a
// folder of this server's own in it (logs/HOST_PORT). One rotated file
// written by two processes loses lines at each rotation, and a reader
// could not tell the servers apart.
func logDir(o *storeFlags, listen string) string {
	if o.db == "" {
		return o.data
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	name := host
	if _, port, err := net.SplitHostPort(listen); err == nil && port != "" {
		name += "_" + port
	}
	return filepath.Join(o.data, "logs", name)
}

// serveCounty mounts the staff pages on srv and serves, with TLS off
// loopback.
func serveCounty(ctx context.Context, srv *server.Server, st *server.CountyStore, listen, data string, f serveFlags, logger *slog.Logger) error {
	h := web.New(st, logger)
	srv.Web = h
	if err := srv.Go("staff pages", func(ctx context.Context) error { h.Run(ctx); return nil }); err != nil {
		return err
	}
	useTLS := *f.certFile != "" || *f.tls || (!server.IsLoopback(listen) && !*f.insecure)
	if !useTLS {
		if !server.IsLoopback(listen) {
			logger.Warn("plain HTTP off loopback: passwords and records travel unencrypted (--insecure-http)")
		}
		if *f.publicURL == "" {
			h.ServerURL = "http://" + listen
		} else {
			h.ServerURL = *f.publicURL
		}
		if n, _ := st.UserCount(ctx); n == 0 {
			logger.Warn("no staff account yet: create one with `county-server user add --role admin`")
		}
		return srv.Serve(ctx, listen, nil)
	}
	certFile, keyFile := *f.certFile, *f.keyFile
	if certFile == "" {
		dir := filepath.Join(data, "tls")
		if err := atomicfile.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		hosts := splitHosts(*f.hosts, listen)
		if _, err := server.OwnCA(dir, hosts, time.Now()); err != nil {
			return fmt.Errorf("own CA: %w", err)
		}
		if err := srv.Go("certificate renewal", func(ctx context.Context) error { server.RenewLoop(ctx, dir, hosts, logger); return nil }); err != nil {
			return err
		}
		certFile, keyFile = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	}
	cs, err := server.NewCertSource(certFile, keyFile)
	if err != nil {
		return err
	}
	h.Pin, h.PinSHA256 = syncproto.ShortPin(cs.Pin), cs.Pin
	h.ServerURL = *f.publicURL
	if h.ServerURL == "" {
		h.ServerURL = "https://" + listen
	}
	logger.Info("county server TLS", "cert", certFile, "pin_sha256", cs.Pin)
	return srv.Serve(ctx, listen, cs.TLSConfig())
}

func splitHosts(hosts, listen string) []string {
	var out []string
	for _, h := range strings.Split(hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			out = append(out, h)
		}
	}
	if len(out) == 0 {
		host, _, _ := net.SplitHostPort(listen)
		if host == "" || host == "0.0.0.0" || host == "::" {
			name, _ := os.Hostname()
			out = append(out, name, "127.0.0.1")
		} else {
			out = append(out, host)
		}
	}
	return out
}

// envQueueWait sets --queue-wait's default (a systemd drop-in's
// Environment= line, as the metrics' addresses).
const envQueueWait = "STATIONSYNC_QUEUE_WAIT"

// queueWaitDefault is $STATIONSYNC_QUEUE_WAIT, or the server's own (2 s)
// when unset or not a positive duration.
func queueWaitDefault() time.Duration {
	if d, err := time.ParseDuration(os.Getenv(envQueueWait)); err == nil && d > 0 {
		return d
	}
	return server.New(nil, nil).QueueWait
}
