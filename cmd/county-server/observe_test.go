package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stationsync/internal/testsupport"
)

// serve refuses metrics it would show to anyone — a listener off
// loopback without a token, a token file that is missing or too short —
// before it serves anything, and says which flag.
func TestServeRefusesUnprotectedMetrics(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short.token")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--metrics-addr", "0.0.0.0:0"}, "--metrics-addr"},
		{[]string{"--metrics-token-file", filepath.Join(dir, "missing")}, "--metrics-token-file"},
		{[]string{"--metrics-token-file", short}, "at least 16"},
	} {
		var errb bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		code := Main(ctx, append([]string{"serve", "--data", filepath.Join(dir, "data"), "--listen", testsupport.FreeAddr(t)}, c.args...), strings.NewReader(""), io.Discard, &errb)
		cancel()
		if code == 0 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("serve %v: exit %d, %q", c.args, code, errb.String())
		}
	}
}

// With a token file, the main listener's /metrics answers the token and
// nothing else; LOG_FORMAT=json writes JSON lines.
func TestServeMetricsTokenOnTheMainListener(t *testing.T) {
	t.Setenv("LOG_FORMAT", "json")
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "metrics.token")
	const token = "s3cret-token-of-24-chars"
	os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)
	t.Setenv(envMetricsToken, tokenFile)
	addr := testsupport.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &lockedBuffer{}
	served := make(chan int, 1)
	go func() {
		served <- Main(ctx, []string{"serve", "--data", filepath.Join(dir, "data"), "--listen", addr}, strings.NewReader(""), io.Discard, stderr)
	}()
	waitUp(t, "http://"+addr+"/readyz", served, stderr)
	scrape := func(auth string) int {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 && !strings.Contains(string(b), "stationsync_stations{") {
			t.Errorf("200 without the metrics: %.200q", b)
		}
		return resp.StatusCode
	}
	if c := scrape(""); c != http.StatusUnauthorized {
		t.Errorf("without the token: %d", c)
	}
	if c := scrape("Bearer " + token); c != 200 {
		t.Errorf("with the token: %d", c)
	}
	cancel()
	<-served
	if !strings.HasPrefix(stderr.String(), "{") || !strings.Contains(stderr.String(), `"msg":"county server listening"`) {
		t.Errorf("not JSON lines: %.300q", stderr.String())
	}
}
