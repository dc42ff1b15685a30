package web_test

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/passhash"
)

// cheapPIN gives account name a PIN whose hash costs 4 MiB instead of 32,
// written straight into the database (as a PIN made before 6 digits were
// required would be): what the tests count does not depend on the cost,
// and a regression must not make the test machine swap.
func (s *station) cheapPIN(name, pin string) string {
	s.t.Helper()
	ctx := context.Background()
	h, err := passhash.Hash(pin, 4*1024)
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.a.Store.DB().W.ExecContext(ctx, `UPDATE accounts SET pin_hash = ? WHERE name = ?`, h, name); err != nil {
		s.t.Fatal(err)
	}
	accs, _ := s.a.Store.Accounts(ctx)
	for _, a := range accs {
		if a.Name == name {
			return strconv.FormatInt(a.ID, 10)
		}
	}
	s.t.Fatalf("no account %s", name)
	return ""
}

// postRaw posts a form without a cookie jar, for many clients at once.
func (s *station) postRaw(path string, form url.Values) (int, string, string, error) {
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r, err := c.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(b), r.Header.Get("Retry-After"), nil
}

// postSession posts a form with the station's session cookie, from any
// goroutine (it reports errors instead of failing the test).
func (s *station) postSession(path string, form url.Values) (string, error) {
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	r, err := s.c.Do(req)
	if err != nil {
		return "", err
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	return string(b), err
}

// Issue 13.2: forty wrong PINs posted at once for one account. Each is
// counted before its hash runs, so no more than the lockout threshold are
// ever checked; the rest are told, in Chinese, to wait (429, Retry-After),
// and the right PIN is refused until the lock runs out.
func TestParallelWrongPINsCannotBeatLockout(t *testing.T) {
	s := newStation(t)
	s.setup("李明")
	s.post("/logout", url.Values{})
	id := s.cheapPIN("李明", "246810")
	const n, threshold = 40, 5
	passhash.ResetStats()
	type answer struct {
		status      int
		body, retry string
		err         error
	}
	answers := make([]answer, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			pin := strconv.Itoa(100000 + i)
			// A script comes back when told the PC is busy; only the
			// lockout may stop it.
			for try := 0; ; try++ {
				st, body, retry, err := s.postRaw("/login", url.Values{"account": {id}, "pin": {pin}})
				answers[i] = answer{st, body, retry, err}
				if err != nil || st != http.StatusTooManyRequests || !strings.Contains(body, "登录的人太多") || try == 500 {
					return
				}
				time.Sleep(time.Duration(2+rand.IntN(10)) * time.Millisecond)
			}
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	checked := passhash.ReadStats().Mismatches
	wrong, locked := 0, 0
	for i, a := range answers {
		switch {
		case a.err != nil:
			t.Fatalf("login %d: %v", i, a.err)
		case a.status == http.StatusUnprocessableEntity && strings.Contains(a.body, "密码不对"):
			wrong++
		case a.status == http.StatusTooManyRequests && strings.Contains(a.body, "错误次数太多"):
			locked++
			if a.retry == "" {
				t.Errorf("lockout answer without Retry-After")
			}
		default:
			t.Errorf("login %d: %d %s", i, a.status, snippet(a.body))
		}
	}
	t.Logf("%d wrong PINs at once: %d checked, %d told 密码不对, %d told to wait", n, checked, wrong, locked)
	if checked > threshold {
		t.Errorf("%d wrong PINs checked; the lockout allows %d", checked, threshold)
	}
	if locked == 0 {
		t.Errorf("no attempt was refused by the lockout")
	}
	st, body, _, _ := s.postRaw("/login", url.Values{"account": {id}, "pin": {"246810"}})
	if st != http.StatusTooManyRequests || !strings.Contains(body, "错误次数太多") {
		t.Errorf("right PIN during the lock: %d %s", st, snippet(body))
	}
	s.clock.Add(time.Minute + time.Second)
	must(t, s.post("/login", url.Values{"account": {id}, "pin": {"246810"}}), http.StatusSeeOther)
}

// Hashes at once are bounded at the station too, and the excess is told
// to wait a few seconds, in Chinese.
func TestPINHashesBounded(t *testing.T) {
	s := newStation(t)
	s.setup("李明")
	s.post("/logout", url.Values{})
	var ids []string
	for i := range 8 {
		name := "干部" + strconv.Itoa(i)
		if _, err := s.a.Store.CreateAccount(context.Background(), name, "135790", "李明"); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.cheapPIN(name, "135790"))
	}
	const n = 120
	passhash.ResetStats()
	busy := 0
	var mu sync.Mutex
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			st, body, retry, err := s.postRaw("/login", url.Values{"account": {ids[i%len(ids)]}, "pin": {"135790"}})
			if err != nil {
				t.Error(err)
				return
			}
			if st == http.StatusTooManyRequests && strings.Contains(body, "登录的人太多，请稍等几秒再试。") {
				mu.Lock()
				busy++
				mu.Unlock()
				if retry == "" {
					t.Error("busy answer without Retry-After")
				}
			}
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	st := passhash.ReadStats()
	t.Logf("%d logins at once: %d hashes, %d told busy, peak at once %d", n, st.Verifies, busy, st.PeakFlight)
	if st.PeakFlight > agent.MaxConcurrentPINHashes {
		t.Errorf("%d PIN hashes ran at once; the bound is %d", st.PeakFlight, agent.MaxConcurrentPINHashes)
	}
	if busy == 0 {
		t.Error("nobody was told to wait")
	}
}

// New PINs need 6 digits; a 4-digit PIN made before still logs in, and
// the cadre is asked to change it.
func TestOldShortPINStillWorks(t *testing.T) {
	s := newStation(t)
	s.setup("李明")
	s.post("/logout", url.Values{})
	id := s.cheapPIN("李明", "1234")
	r := s.post("/login", url.Values{"account": {id}, "pin": {"1234"}})
	must(t, r, http.StatusSeeOther)
	must(t, s.follow(r), 200, "只有 4 位", "6 到 12 位")
	must(t, s.post("/accounts", url.Values{"name": {"王芳"}, "pin": {"5678"}, "pin2": {"5678"}}), http.StatusUnprocessableEntity, "密码应为 6 到 12 位数字")
	must(t, s.post("/accounts/pin", url.Values{"old_pin": {"1234"}, "new_pin": {"4321"}, "new_pin2": {"4321"}}), http.StatusUnprocessableEntity, "密码应为 6 到 12 位数字")
	must(t, s.post("/accounts/pin", url.Values{"old_pin": {"1234"}, "new_pin": {"975310"}, "new_pin2": {"975310"}}), http.StatusSeeOther)
}

// The change-PIN form checks the old PIN through the same count: a session
// left open is no way to guess it.
func TestParallelWrongOldPINsCannotBeatLockout(t *testing.T) {
	s := newStation(t)
	s.setup("李明")
	s.cheapPIN("李明", "246810")
	passhash.ResetStats()
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	const n = 30
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			for try := 0; try < 500; try++ {
				body, err := s.postSession("/accounts/pin", url.Values{"old_pin": {strconv.Itoa(100000 + i)}, "new_pin": {"975310"}, "new_pin2": {"975310"}})
				if err != nil {
					t.Error(err)
					return
				}
				if !strings.Contains(body, "登录的人太多") {
					return
				}
				time.Sleep(time.Duration(2+rand.IntN(10)) * time.Millisecond)
			}
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	if n := passhash.ReadStats().Mismatches; n > 5 {
		t.Errorf("%d old PINs checked; the lockout allows 5", n)
	}
	must(t, s.post("/accounts/pin", url.Values{"old_pin": {"246810"}, "new_pin": {"975310"}, "new_pin2": {"975310"}}), http.StatusTooManyRequests, "错误次数太多")
}
