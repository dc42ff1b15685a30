package e2e

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"stationsync/internal/testsupport"
)

// loginBurstMaxRSS is what the county-server may reach under the burst:
// its idle size (~25 MB) plus two 64 MiB argon2id hashes at once and the
// garbage collector's slack (the heap may grow to twice what was live at
// the last collection): about 230 MB measured for one shot each, about
// 400 MB with every client retrying for minutes. Without the hash gate
// every login of the burst holds its own 64 MiB: 60 took 3.9 GB, 500 ask
// for 32 GB.
const loginBurstMaxRSS = 512 << 20

// TestLoginBurstMemory fires 500 logins at once (right passwords, wrong
// ones and unknown names, from 500 loopback addresses, as a distributed
// guesser would) at the real county-server binary, and reads its peak
// resident memory (VmHWM) from /proc. Issue 13: sixty parallel logins took
// it from 39 MB to 3.9 GB.
func TestLoginBurstMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc and dials from 127.0.x.y: Linux only")
	}
	n := 500
	if s := os.Getenv("LOGIN_BURST"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	c := newCounty(t)
	c.Start()
	const pw = "correct horse battery"
	users := []string{"staff1", "staff2", "staff3", "staff4"}
	for _, u := range users {
		testsupport.MustExec(t, nil, []byte(pw+"\n"), bin.Server, "user", "add", "--username", u, "--name", u, "--role", "county", "--data", c.Data)
	}
	idle := vmHWM(t, c.P.Pid())

	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	var mu sync.Mutex
	answers := map[string]int{}
	// One shot each by default. LOGIN_BURST_RETRY=1: a client told
	// "busy" comes back after about the Retry-After (2 s) until it has
	// its answer, so the burst makes the server run every hash it can.
	retries, maxTries := 0, 1
	if os.Getenv("LOGIN_BURST_RETRY") != "" {
		maxTries = 1000
	}
	began := time.Now()
	for i := range n {
		go func() {
			defer done.Done()
			user, password := users[i%len(users)], pw
			switch {
			case i%10 == 9:
				user = "nobody" + strconv.Itoa(i)
			case i%2 == 1:
				password = "guess " + strconv.Itoa(i)
			}
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, byte(10+i/250), byte(1+i%250))}, Timeout: 30 * time.Second}
			cl := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true},
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			ready.Done()
			<-start
			// Told "busy", a client comes back a moment later, until it
			// has its answer: the burst runs every hash it can make the
			// server run, not only the first two.
			key, tries := "", 0
			for {
				resp, err := cl.PostForm(c.URL()+"/login", url.Values{"username": {user}, "password": {password}})
				if err != nil {
					key = "error: " + err.Error()
					break
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				key = strconv.Itoa(resp.StatusCode)
				switch {
				case strings.Contains(string(b), "账号已锁定"):
					key += " locked"
				case strings.Contains(string(b), "这台电脑"):
					key += " address"
				}
				if !strings.Contains(string(b), "登录的人太多") {
					break
				}
				if tries >= maxTries-1 {
					key += " busy"
					break
				}
				tries++
				time.Sleep(time.Second + rand.N(2*time.Second))
			}
			mu.Lock()
			answers[key]++
			retries += tries
			mu.Unlock()
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	peak := vmHWM(t, c.P.Pid())
	var keys []string
	for k, v := range answers {
		keys = append(keys, fmt.Sprintf("%s×%d", k, v))
	}
	sort.Strings(keys)
	t.Logf("RESULT login burst: %d logins at once (%d retries after 'busy', %s); county-server VmHWM %d MB before, %d MB after; answers %s",
		n, retries, time.Since(began).Round(time.Second), idle>>20, peak>>20, strings.Join(keys, ", "))
	for k := range answers {
		if strings.HasPrefix(k, "error") || strings.HasPrefix(k, "5") {
			t.Errorf("answer %q to a login", k)
		}
	}
	if peak > loginBurstMaxRSS {
		t.Errorf("county-server peak RSS %d MB under %d parallel logins; the bound is %d MB", peak>>20, n, loginBurstMaxRSS>>20)
	}
	if c.P.Exited() {
		t.Fatalf("county-server died under the burst: %v\n%s", c.P.Err(), testsupport.Tail(c.Log, 20))
	}
}

// vmHWM returns a process's peak resident set size in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	n := testsupport.VmHWM(pid)
	if n == 0 {
		t.Fatalf("no VmHWM in /proc/%d/status", pid)
	}
	return n
}
