package server

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// pipeListener hands the server the far ends of net.Pipe connections, so
// that a server runs inside a synctest bubble, on its fake clock.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

func (l *pipeListener) dial() net.Conn {
	c, s := net.Pipe()
	l.conns <- s
	return c
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// stubStore knows one station: no SQLite inside the bubble. (Nor zstd,
// whose pooled coders belong to no bubble: the pushes here are cut, or
// refused, before their envelope is opened; a body that comes whole is
// shown on a route of the staff pages, paced the same way.)
type stubStore struct {
	Store
	st *Station
}

func (s *stubStore) Station(_ context.Context, id string) (*Station, error) {
	if id != s.st.ID {
		return nil, ErrNoStation
	}
	return s.st, nil
}

// The pace of request bodies, on the default limits and a fake clock: a
// push's body must bring 1 KiB within every 30 s and end within 10 min,
// else the connection is cut and its slot freed; a 2G upload with a long
// pause passes; work that outlasts the stall window after the body has
// come (a long merge) keeps its context; a form of the staff pages is held
// to the same pace.
func TestBodyPace(t *testing.T) {
	lim := DefaultLimits()
	type step struct {
		wait time.Duration
		n    int // bytes to send after wait; -1: the rest
	}
	every := func(wait time.Duration, n, times int) []step {
		out := make([]step, times)
		for i := range out {
			out[i] = step{wait, n}
		}
		return out
	}
	cases := []struct {
		name   string
		path   string
		signed bool
		size   int // body bytes (a real envelope for pushes)
		first  int // bytes sent with the headers
		steps  []step
		work   time.Duration // the handler's work after the whole body
		status int
		at     time.Duration // fake time from the headers to the answer
	}{
		{name: "stall after 100 bytes", path: "/v1/push", signed: true, size: 16 << 10, first: 100,
			status: http.StatusBadRequest, at: lim.BodyStall},
		{name: "a byte every 10 s", path: "/v1/push", signed: true, size: 16 << 10, first: 100,
			steps: every(10*time.Second, 1, 100), status: http.StatusBadRequest, at: lim.BodyStall},
		{name: "999 bytes every 29 s", path: "/v1/push", signed: true, size: 16 << 10, first: 100,
			steps: every(29*time.Second, 999, 100), status: http.StatusBadRequest, at: 29*time.Second + lim.BodyStall},
		{name: "1 KiB every 29 s, past BodyMax", path: "/v1/push", signed: true, size: 64 << 10, first: 0,
			steps: every(29*time.Second, 1<<10, 100), status: http.StatusBadRequest, at: lim.BodyMax},
		{name: "unsigned push", path: "/v1/push", size: 16 << 10, first: 1,
			steps: every(10*time.Second, 1, 100), status: http.StatusUnauthorized, at: 0},
		{name: "2G: 512 B every 100 ms, a 25 s pause", path: "/upload", size: 24 << 10, first: 300,
			steps:  append(append(every(100*time.Millisecond, 512, 8), step{25 * time.Second, 512}), every(100*time.Millisecond, 512, 100)...),
			status: http.StatusOK},
		{name: "work longer than the stall window after the body", path: "/upload", size: 16 << 10, first: -1,
			work: 3 * lim.BodyStall, status: http.StatusOK, at: 3 * lim.BodyStall},
		{name: "staff form, a byte every 2 s", path: "/login", size: 200, first: 10,
			steps: every(2*time.Second, 1, 200), status: http.StatusRequestTimeout, at: lim.BodyStall},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pub, key, _ := ed25519.GenerateKey(nil)
				k := keyed{&Station{ID: "st_00000000000000aa", Village: village, PublicKey: pub}, key}
				store := &stubStore{st: k.st}
				srv := New(store, quietLog)
				ctxOK := false
				srv.Web = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					var err error
					if r.URL.Path == "/login" {
						err = r.ParseForm()
					} else {
						_, err = io.ReadAll(r.Body)
					}
					if err != nil {
						http.Error(w, "slow", http.StatusRequestTimeout)
						return
					}
					time.Sleep(tc.work)
					ctxOK = r.Context().Err() == nil
					w.Write([]byte("ok"))
				})
				l := newPipeListener()
				hs := srv.httpServer("")
				go hs.Serve(l)
				defer hs.Close()

				body := []byte(strings.Repeat("a=b&", tc.size/4))
				h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
				if tc.path == "/v1/push" {
					h = pushHeaders(k, body, true)
					if !tc.signed {
						h.Del("Authorization")
					}
				}
				first := tc.first
				if first < 0 {
					first = len(body)
				}
				c := l.dial()
				defer c.Close()
				var head strings.Builder
				fmt.Fprintf(&head, "POST %s HTTP/1.1\r\nHost: county\r\nContent-Length: %d\r\n", tc.path, len(body))
				h.Write(&head)
				head.WriteString("\r\n")
				quit := make(chan struct{})
				defer close(quit)
				go func() {
					// net.Pipe is synchronous: a write returns when the
					// server has read it. Errors mean the server cut us.
					sent := first
					if _, err := c.Write(append([]byte(head.String()), body[:sent]...)); err != nil {
						return
					}
					for _, s := range tc.steps {
						select {
						case <-time.After(s.wait):
						case <-quit:
							return
						}
						n := s.n
						if n < 0 || sent+n > len(body) {
							n = len(body) - sent
						}
						if n == 0 {
							return
						}
						if _, err := c.Write(body[sent : sent+n]); err != nil {
							return
						}
						sent += n
					}
				}()
				start := time.Now()
				br := bufio.NewReader(c)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("no answer: %v", err)
				}
				io.Copy(io.Discard, resp.Body)
				took := time.Since(start)
				if resp.StatusCode != tc.status {
					t.Fatalf("answered %d after %s, want %d", resp.StatusCode, took, tc.status)
				}
				if tc.at > 0 || tc.status != http.StatusOK {
					if took < tc.at || took > tc.at+time.Second {
						t.Fatalf("answered after %s, want %s", took, tc.at)
					}
				}
				if tc.status != http.StatusOK {
					if _, err := br.ReadByte(); err != io.EOF {
						t.Fatalf("connection still open after the answer: %v", err)
					}
				}
				if tc.status == http.StatusOK && !ctxOK {
					t.Fatal("the request's context was cancelled during work after the body had come")
				}
				synctest.Wait()
				if len(srv.slots) != 0 {
					t.Fatalf("%d slots still held", len(srv.slots))
				}
			})
		})
	}
}
