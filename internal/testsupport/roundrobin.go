package testsupport

import (
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
)

// RoundRobin is a load balancer in front of several county servers, as a
// county with two servers runs one: each request to the next server, no
// health checks, so a request to a dead server fails (502) and the station
// retries as it would after any lost answer.
type RoundRobin struct {
	*httptest.Server
	next atomic.Uint64
	// Served counts the requests sent to each server; Failed, those that
	// found theirs unreachable.
	Served []atomic.Int64
	Failed atomic.Int64
}

// NewRoundRobin starts the balancer on 127.0.0.1, closed when the test ends.
func NewRoundRobin(t testing.TB, cs ...*CountyProc) *RoundRobin {
	t.Helper()
	rr := &RoundRobin{Served: make([]atomic.Int64, len(cs))}
	var proxies []*httputil.ReverseProxy
	for _, c := range cs {
		u, err := url.Parse(c.URL())
		if err != nil {
			t.Fatal(err)
		}
		p := httputil.NewSingleHostReverseProxy(u)
		p.ErrorLog = log.New(discard{}, "", 0)
		p.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
			rr.Failed.Add(1)
			w.WriteHeader(http.StatusBadGateway)
		}
		proxies = append(proxies, p)
	}
	rr.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := rr.next.Add(1) % uint64(len(proxies))
		rr.Served[i].Add(1)
		proxies[i].ServeHTTP(w, r)
	}))
	t.Cleanup(rr.Close)
	return rr
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
