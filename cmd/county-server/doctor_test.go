package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stationsync/internal/sqlitedb"
	"stationsync/server"
)

func runDoctor(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), append([]string{"doctor"}, args...), strings.NewReader(""), &out, &errb)
	if errb.Len() > 0 {
		t.Logf("stderr: %s", errb.String())
	}
	return out.String(), code
}

func mustLines(t *testing.T, out string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(out, l) {
			t.Errorf("doctor's answer lacks %q:\n%s", l, out)
		}
	}
}

// A running county with one station that has been silent for a fortnight
// and one that has not: the server answers, the database is whole, the
// silent station is named. Nothing fails, so doctor exits 0 whatever the
// service manager says (here the server is not a system service).
func TestDoctorRunningCounty(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil { // as install makes it
		t.Fatal(err)
	}
	st, err := server.OpenSQLite(ctx, filepath.Join(dir, "county.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i, village := range []string{"340123101201", "340123101202"} {
		code, err := st.CreateCode(ctx, village, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		s, err := st.Enroll(ctx, code, bytes.Repeat([]byte{byte(i + 1)}, 32), "pc", "v")
		if err != nil {
			t.Fatal(err)
		}
		last := time.Now().Add(-time.Duration(i*14*24) * time.Hour).UnixMilli()
		if _, err := st.DB().W.Exec(`UPDATE stations SET last_contact_at = ? WHERE id = ?`, last, s.ID); err != nil {
			t.Fatal(err)
		}
	}
	hs := httptest.NewServer(server.New(st, nil).NewHandler())
	defer hs.Close()

	out, code := runDoctor(t, "--data", dir, "--listen", strings.TrimPrefix(hs.URL, "http://"))
	mustLines(t, out,
		"✔ 服务地址：http://"+strings.TrimPrefix(hs.URL, "http://")+" 可以连接",
		"✔ 数据库：完好",
		"! 村站：2 个村站，其中 1 个超过一周没有联系（340123101202）",
		"✔ 证书：没有自建证书",
		"一切正常。")
	if code != 0 {
		t.Fatalf("doctor exited %d on a healthy county:\n%s", code, out)
	}
}

// A county serving TLS with its own CA is reached over TLS and verified
// against that CA, and its certificate's expiry is shown.
func TestDoctorOwnCATLS(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	tlsDir := filepath.Join(dir, "tls")
	if err := os.Mkdir(tlsDir, 0o700); err != nil { // as serve makes it
		t.Fatal(err)
	}
	if _, err := server.OwnCA(tlsDir, []string{"127.0.0.1"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	cs, err := server.NewCertSource(filepath.Join(tlsDir, "server.pem"), filepath.Join(tlsDir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := server.OpenSQLite(context.Background(), filepath.Join(dir, "county.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Served as serve does, not through httptest, whose own certificate
	// would answer a client that sends no server name.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: server.New(st, nil).NewHandler()}
	go hs.Serve(tls.NewListener(ln, cs.TLSConfig()))
	defer hs.Close()

	addr := ln.Addr().String()
	out, _ := runDoctor(t, "--data", dir, "--listen", addr)
	mustLines(t, out, "✔ 服务地址：https://"+addr+" 可以连接", "✔ 证书：有效期到 ", "127.0.0.1")
}

// A county whose database is damaged, or whose next start will upgrade
// it, or whose server does not answer, is told so.
func TestDoctorFindsTrouble(t *testing.T) {
	ctx := context.Background()

	t.Run("damaged database, server down", func(t *testing.T) {
		dir := t.TempDir()
		st, err := server.OpenSQLite(ctx, filepath.Join(dir, "county.db"), "")
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
		path := filepath.Join(dir, "county.db")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// Garbage over every page after the first: the schema is there,
		// the tables' pages are not.
		for i := 4096; i < len(b); i++ {
			b[i] = 0xA5
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		out, code := runDoctor(t, "--data", dir, "--listen", "127.0.0.1:1")
		mustLines(t, out, "✘ 数据库：", "✘ 服务地址：127.0.0.1:1 无法连接", "项需要处理。")
		if code != 1 {
			t.Fatalf("doctor exited %d, want 1", code)
		}
	})

	t.Run("upgrade pending", func(t *testing.T) {
		dir := t.TempDir()
		names := server.SchemaMigrations()
		old := sqlitedb.MigrationsThrough(os.DirFS(filepath.Join("..", "..", "server", "migrations")), names[len(names)-2])
		db, err := sqlitedb.Open(ctx, filepath.Join(dir, "county.db"), old)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		out, _ := runDoctor(t, "--data", dir, "--listen", "127.0.0.1:1")
		mustLines(t, out, "! 数据库：完好", "下次启动时升级 1 步（"+names[len(names)-1]+"）")
	})
}

func TestDoctorCertificate(t *testing.T) {
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "server.pem")
	for _, tc := range []struct {
		notAfter time.Time
		mark     string
		answer   string
	}{
		{now.AddDate(1, 0, 0), "ok", "有效期到 2027-11-26"},
		{now.AddDate(0, 0, 10), "warn", "证书 10 天后过期"},
		{now.AddDate(0, 0, -1), "fail", "证书已于 2026-11-25 过期"},
	} {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "county"}, DNSNames: []string{"county.example"},
			NotBefore: now.AddDate(-1, 0, 0), NotAfter: tc.notAfter}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
			t.Fatal(err)
		}
		c := checkCertificate(path, now)
		mark := "ok"
		if !c.OK {
			mark = "fail"
		} else if c.Warn {
			mark = "warn"
		}
		if mark != tc.mark || !strings.Contains(c.Answer, tc.answer) {
			t.Errorf("certificate until %s: %s %q, want %s %q", tc.notAfter.Format(time.DateOnly), mark, c.Answer, tc.mark, tc.answer)
		}
	}
}
