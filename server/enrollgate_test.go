package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"stationsync/syncproto"
)

// enrollFrom posts an enrollment from the loopback address local
// (127.0.0.0/8 is all this host's on Linux), so that tests have several
// "addresses".
func enrollFrom(t *testing.T, url, local string, body []byte) (int, http.Header, syncproto.ErrorBody) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	resp, err := c.Post(url+"/v1/enroll", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0, nil, syncproto.ErrorBody{}
	}
	defer resp.Body.Close()
	var eb syncproto.ErrorBody
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &eb)
	return resp.StatusCode, resp.Header, eb
}

func enrollBody(code, host string) []byte {
	pub, _, _ := ed25519.GenerateKey(nil)
	b, _ := json.Marshal(syncproto.EnrollRequest{Version: syncproto.Version, Code: code, PublicKey: pub, Hostname: host, AgentVersion: "test"})
	return b
}

func newEnrollServer(t *testing.T) (*CountyStore, string) {
	t.Helper()
	st := openTestStore(t)
	hs := httptest.NewServer(New(st, slog.New(slog.DiscardHandler)).NewHandler())
	t.Cleanup(hs.Close)
	return st, hs.URL
}

// atOnce runs n requests released together by a start barrier and counts
// the answers by status.
func atOnce(n int, do func(i int) int) map[int]int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[int]int{}
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			st := do(i)
			mu.Lock()
			got[st]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return got
}

// A burst of wrong codes from one address: the first enrollPerAddress are
// looked up and refused, every other one gets 429 at once with a
// Retry-After the station's client will not retry inside the request; a
// right code from another address still enrolls.
func TestEnrollRateLimitPerAddress(t *testing.T) {
	st, url := newEnrollServer(t)
	const n = 60
	got := atOnce(n, func(i int) int {
		status, h, eb := enrollFrom(t, url, "127.0.0.1", enrollBody("WRONG-"+strconv.Itoa(10000+i), "guesser"))
		if status == http.StatusTooManyRequests {
			if ra, _ := strconv.Atoi(h.Get("Retry-After")); ra < 31 || eb.Error.Code != syncproto.CodeRateLimited {
				t.Errorf("429 with Retry-After %q, code %q", h.Get("Retry-After"), eb.Error.Code)
			}
		}
		return status
	})
	if got[http.StatusBadRequest] != enrollPerAddress || got[http.StatusTooManyRequests] != n-enrollPerAddress {
		t.Fatalf("answers %v, want %d × 400 and %d × 429", got, enrollPerAddress, n-enrollPerAddress)
	}
	code, err := st.CreateCode(context.Background(), "340123101201", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if status, _, eb := enrollFrom(t, url, "127.0.0.2", enrollBody(code, "cun-pc")); status != http.StatusOK {
		t.Fatalf("right code from another address: %d %v", status, eb)
	}
	// Still refused from the first address, even with a right code.
	code2, _ := st.CreateCode(context.Background(), "340123101202", time.Hour)
	if status, _, _ := enrollFrom(t, url, "127.0.0.1", enrollBody(code2, "x")); status != http.StatusTooManyRequests {
		t.Fatalf("right code from the limited address: %d", status)
	}
}

// Attempts at one code are limited across addresses: a leaked or guessed
// code cannot be hammered from many PCs.
func TestEnrollRateLimitPerCode(t *testing.T) {
	_, url := newEnrollServer(t)
	const n = 12
	got := atOnce(n, func(i int) int {
		status, _, _ := enrollFrom(t, url, "127.0.1."+strconv.Itoa(i+1), enrollBody("ABCDE-FGHJK", "pc"))
		return status
	})
	if got[http.StatusBadRequest] != enrollPerCode || got[http.StatusTooManyRequests] != n-enrollPerCode {
		t.Fatalf("answers %v, want %d × 400 and %d × 429", got, enrollPerCode, n-enrollPerCode)
	}
	// Another spelling of the same code shares its bucket.
	if status, _, _ := enrollFrom(t, url, "127.0.2.1", enrollBody("abcde fghjk", "pc")); status != http.StatusTooManyRequests {
		t.Fatalf("same code, other spelling: %d", status)
	}
}

// Successful enrollments give their tokens back: a technician enrolling a
// township's stations from one address, all at once, is never limited.
func TestEnrollSuccessesNotLimited(t *testing.T) {
	st, url := newEnrollServer(t)
	const n = 3 * enrollPerAddress
	codes := make([]string, n)
	for i := range codes {
		var err error
		if codes[i], err = st.CreateCode(context.Background(), "340123101"+strconv.Itoa(200+i), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	// In waves of at most a bucket, so that each wave finds its tokens
	// given back by the one before.
	for w := 0; w < n; w += enrollPerAddress {
		got := atOnce(enrollPerAddress, func(i int) int {
			status, _, _ := enrollFrom(t, url, "127.0.0.3", enrollBody(codes[w+i], "pc"))
			return status
		})
		if got[http.StatusOK] != enrollPerAddress {
			t.Fatalf("wave %d: %v", w/enrollPerAddress, got)
		}
	}
}

// Every refused enrollment is in the audit log with its reason, the claimed
// host name, the address, and for a used code the station that holds it.
func TestEnrollFailuresAudited(t *testing.T) {
	st, url := newEnrollServer(t)
	ctx := context.Background()
	used, _ := st.CreateCode(ctx, "340123101201", time.Hour)
	if status, _, _ := enrollFrom(t, url, "127.0.3.1", enrollBody(used, "first-pc")); status != http.StatusOK {
		t.Fatal("first enrolment refused")
	}
	expired, _ := st.CreateCode(ctx, "340123101202", time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	for _, tc := range []struct {
		body   []byte
		status int
		reason string
	}{
		{[]byte(`{not json`), 400, "请求格式不正确"},
		{[]byte(`{"v":1,"code":"AAAAA-BBBBB","public_key":"AAAA","hostname":"short-key"}`), 400, "缺少有效的站点公钥"},
		{enrollBody("ZZZZZ-ZZZZZ", "guess-pc"), 400, "注册码不正确"},
		{enrollBody(used, "thief-pc"), 409, "注册码已用过"},
		{enrollBody(expired, "late-pc"), 410, "注册码已过期"},
	} {
		if status, _, _ := enrollFrom(t, url, "127.0.3.2", tc.body); status != tc.status {
			t.Errorf("%s: status %d, want %d", tc.reason, status, tc.status)
		}
	}
	es, total, err := st.AuditLog(ctx, AuditFilter{Action: AuditEnrollFailed})
	if err != nil {
		t.Fatal(err)
	}
	if total != 5 {
		t.Fatalf("%d failures audited, want 5: %+v", total, es)
	}
	all := ""
	for _, e := range es {
		if !strings.HasPrefix(e.Remote, "127.0.3.2:") {
			t.Errorf("remote %q", e.Remote)
		}
		all += e.Username + "|" + e.Target + "|" + e.Detail + "\n"
	}
	var stn string
	st.db.R.QueryRow(`SELECT id FROM stations`).Scan(&stn)
	for _, want := range []string{"请求格式不正确", "缺少有效的站点公钥", "站点?short-key", "站点?guess-pc|", "注册码不正确", "站点?thief-pc|340123101201|注册码已用过", "已由站点 " + stn, "站点?late-pc|340123101202|注册码已过期", "公钥 "} {
		if !strings.Contains(all, want) {
			t.Errorf("audit lacks %q:\n%s", want, all)
		}
	}
	// A flood of refusals writes one row for the limit, not one per request.
	atOnce(40, func(i int) int {
		status, _, _ := enrollFrom(t, url, "127.0.3.3", enrollBody("WRONG-"+strconv.Itoa(i), "flood"))
		return status
	})
	es, _, _ = st.AuditLog(ctx, AuditFilter{Action: AuditEnrollFailed, Limit: 1000})
	flood, limited := 0, 0
	for _, e := range es {
		if strings.HasPrefix(e.Remote, "127.0.3.3:") {
			flood++
			if strings.Contains(e.Detail, "注册尝试过多") {
				limited++
			}
		}
	}
	if flood != enrollPerAddress+1 || limited != 1 {
		t.Fatalf("flood of 40: %d rows (%d for the limit), want %d refused lookups and 1 for the limit", flood, limited, enrollPerAddress+1)
	}
}

// The answer names the county, township and village as the county named
// them, for the person confirming on the station.
func TestEnrollAnswerNamesPlaces(t *testing.T) {
	st, url := newEnrollServer(t)
	ctx := context.Background()
	for code, name := range map[string]string{"340123": "长丰县民政局", "340123101": "甲镇", "340123101201": "甲村"} {
		if err := st.SetPlaceName(ctx, code, name); err != nil {
			t.Fatal(err)
		}
	}
	code, _ := st.CreateCode(ctx, "340123101201", time.Hour)
	c := syncproto.NewClient(url)
	pub, _, _ := ed25519.GenerateKey(nil)
	resp, err := c.Enroll(ctx, syncproto.EnrollRequest{Code: code, PublicKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	if resp.CountyName != "长丰县民政局" || resp.TownshipName != "甲镇" || resp.VillageName != "甲村" || resp.County != "340123" {
		t.Fatalf("%+v", resp)
	}
}
