package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"stationsync/internal/atomicfile"
	"stationsync/internal/cli"
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

// serveCounty mounts the staff pages on srv and serves, with TLS off
// loopback.
func serveCounty(ctx context.Context, srv *server.Server, st *server.SQLiteStore, listen, data string, f serveFlags, logger *slog.Logger) error {
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

// userCommand runs `user add` and `user list`.
func userCommand(ctx context.Context, cmd string, fs *flag.FlagSet, args []string, open func() (*server.SQLiteStore, error), stdin io.Reader, stdout, stderr io.Writer) int {
	switch cmd {
	case "user add":
		username := fs.String("username", "", "login name")
		name := fs.String("name", "", "display name (姓名)")
		role := fs.String("role", server.RoleAdmin, "admin, county or township")
		township := fs.String("township", "", "9-digit township code (township role)")
		full := fs.Bool("full-numbers", false, "may see and export full ID and phone numbers")
		if fs.Parse(args) != nil {
			return 2
		}
		fmt.Fprintf(stderr, "请输入 %s 的密码（至少 %d 位），回车结束：\n", *username, server.MinPasswordLen)
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return cli.Fail(stderr, err)
		}
		st, err := open()
		if err != nil {
			return cli.Fail(stderr, err)
		}
		defer st.Close()
		u, err := st.CreateUser(ctx, server.NewUser{Username: *username, DisplayName: *name, Role: *role, Township: *township, Password: strings.TrimRight(line, "\r\n"), FullNumbers: *full})
		switch {
		case errors.Is(err, server.ErrWeakPassword):
			return cli.Fail(stderr, fmt.Errorf("密码至少 %d 位", server.MinPasswordLen))
		case errors.Is(err, server.ErrUserExists):
			return cli.Fail(stderr, fmt.Errorf("用户名 %s 已存在", *username))
		case errors.Is(err, server.ErrBadRole):
			return cli.Fail(stderr, fmt.Errorf("角色应为 admin、county 或 township；乡镇账号需 --township 本县9位乡镇代码"))
		case err != nil:
			return cli.Fail(stderr, err)
		}
		st.Audit(ctx, "(命令行)", server.AuditUserCreate, u.Username, server.RoleLabel[u.Role]+" "+u.Township, "localhost")
		fmt.Fprintf(stdout, "已创建账号 %s（%s）\n", u.Username, server.RoleLabel[u.Role])
		return 0
	case "user list":
		if fs.Parse(args) != nil {
			return 2
		}
		st, err := open()
		if err != nil {
			return cli.Fail(stderr, err)
		}
		defer st.Close()
		users, err := st.Users(ctx)
		if err != nil {
			return cli.Fail(stderr, err)
		}
		for _, u := range users {
			state := "正常"
			if u.DisabledAt != nil {
				state = "已停用"
			}
			fmt.Fprintf(stdout, "%-16s %-10s %-16s %-10s %s\n", u.Username, u.DisplayName, server.RoleLabel[u.Role], u.Township, state)
		}
		return 0
	}
	fmt.Fprint(stderr, webUsage)
	return 2
}

// withPin appends the own CA's pin to an enrolment code made on the
// command line, when the server uses its own CA (or an operator's chain
// in DATA/tls/server.pem).
func withPin(data, code string) string {
	cs, err := server.NewCertSource(filepath.Join(data, "tls", "server.pem"), filepath.Join(data, "tls", "server.key"))
	if err != nil {
		return code
	}
	return code + "-" + syncproto.ShortPin(cs.Pin)
}
