package server

import (
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"stationsync/syncproto"
)

// The gate in front of the sync slots, and the pace of request bodies.
//
// A county has few sync slots (MaxInflight) for all its stations, and a
// push may upload for minutes over 2G. So a request proves who sent it from
// its headers alone, before it may take a slot or send a byte of its body:
// whoever cannot sign is answered at once and costs the county nothing but
// a look-up. And no body, signed or not, may hold a connection while it
// trickles: it must keep a minimum pace.

// Limits are the county's limits on station requests and request bodies.
type Limits struct {
	// MaxPerStation bounds the push and pull requests one verified
	// station has in progress. The agent sends at most two at once (a
	// push, and the next one ahead of its answer), so a third is a
	// duplicate or a stolen key: it is answered 429 at once.
	MaxPerStation int
	// LegacySlots is the pool of pushes from older builds, which do not
	// send the body's hash (syncproto.HeaderContentSHA256) and so cannot
	// be verified before their body is read. They never take one of the
	// MaxInflight slots, so that whoever merely names a station cannot
	// keep verified stations waiting.
	LegacySlots int
	// MaxPerAddress bounds the legacy pushes one network address has in
	// progress. Verified requests are limited per station instead, not per
	// address: a carrier's NAT or a proxy in front of the county carries
	// many stations behind one address, and their identity is proven.
	MaxPerAddress int
	// A request body must bring at least BodyChunk bytes within every
	// BodyStall (the read deadline moves on with each chunk), and all of
	// it within BodyMax; otherwise the connection is cut. 0 turns it off.
	BodyStall time.Duration
	BodyChunk int
	BodyMax   time.Duration
}

// DefaultLimits are the limits of a county server.
//
// The body pace, 1 KiB per 30 s, passes a 2G link (4–8 KB/s, round trips
// up to 1 s) with a wide margin: such a link brings 1 KiB in a quarter of a
// second, 1–2 s on a fresh connection, and 30 s leaves room for a handover
// or four back-to-back TCP retransmission timeouts (1+2+4+8 s). It holds a
// link down to ~35 B/s, 1% of the slowest 2G. A client that sends a byte
// every 10 s is cut after 30 s. BodyMax leaves a minute of the 10-minute
// write timeout (which runs from the headers) for the merge and the
// answer; the agent sizes its batches to the link, about 8 s each.
func DefaultLimits() Limits {
	return Limits{
		MaxPerStation: 2,
		LegacySlots:   8,
		MaxPerAddress: 2,
		BodyStall:     30 * time.Second,
		BodyChunk:     1 << 10,
		BodyMax:       9 * time.Minute,
	}
}

// gate is the state of the limits.
type gate struct {
	legacy    chan struct{}
	stations  inFlight
	addresses inFlight
}

// inFlight counts requests in progress by key.
type inFlight struct {
	mu sync.Mutex
	n  map[string]int
}

// take counts one more request of key and returns its release, or false
// when key already has limit in progress. A limit ≤ 0 is no limit.
func (f *inFlight) take(key string, limit int) (func(), bool) {
	if limit <= 0 {
		return func() {}, true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n[key] >= limit {
		return nil, false
	}
	if f.n == nil {
		f.n = map[string]int{}
	}
	f.n[key]++
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.n[key]--; f.n[key] <= 0 {
			delete(f.n, key)
		}
	}, true
}

// admission is a station request let through the gate.
type admission struct {
	st   *Station
	auth *syncproto.RequestAuth
	// bodyHash is the signed hash the body must have; empty for a push
	// of an older build, which the envelope's signature alone verifies.
	bodyHash string
	wait     time.Duration // waiting for a slot
	release  func()
}

// admit lets a push or pull through the gate, in this order, all from the
// headers: version; signature header; station (unknown 401, revoked 403);
// signature over the claimed body hash and its time; the per-station (or,
// for an older build's push, per-address) limit, answered 429 at once; a
// slot within QueueWait, else 503. On refusal it has answered and returns
// nil; else the caller reads the body and must call release.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) *admission {
	return s.admitTo(w, r, door{pool: s.slots, busy: "县级服务器繁忙，稍后会自动重试"})
}

// door is where admitTo lets a request in: the slots it takes, whether
// the signed body hash is required (no older build sends a request through
// it), and what a client is told when every slot stays taken.
type door struct {
	pool     chan struct{}
	needHash bool
	busy     string
}

// admitTo is admit for the request's own door (the attachment calls have
// slots of their own, so files never make records wait).
func (s *Server) admitTo(w http.ResponseWriter, r *http.Request, d door) *admission {
	// A refusal leaves the body unread. Without this the server would
	// read up to 256 KiB of it before it answers, to keep the connection;
	// a client that trickles would then hold the answer and the goroutine.
	closeOnRefusal := r.ProtoMajor == 1 && r.ContentLength != 0
	if closeOnRefusal {
		w.Header().Set("Connection", "close")
	}
	a := s.admitting(w, r, d)
	if a != nil && closeOnRefusal {
		w.Header().Del("Connection")
	}
	return a
}

func (s *Server) admitting(w http.ResponseWriter, r *http.Request, d door) *admission {
	if !s.checkVersion(w, r) {
		return nil
	}
	auth, err := syncproto.ParseAuth(r.Header.Get("Authorization"))
	if err != nil {
		writeError(w, http.StatusUnauthorized, syncproto.CodeBadSignature, "请求缺少站点签名", 0)
		return nil
	}
	st := s.station(w, r, auth.Station)
	if st == nil {
		return nil
	}
	a := &admission{st: st, auth: auth}
	switch {
	case r.Method == http.MethodGet:
		a.bodyHash = syncproto.BodyHash(nil)
	case r.Header.Get(syncproto.HeaderContentSHA256) != "":
		a.bodyHash = r.Header.Get(syncproto.HeaderContentSHA256)
	}
	legacy := a.bodyHash == ""
	if !legacy || d.needHash {
		if !syncproto.ValidBodyHash(a.bodyHash) || !auth.VerifyHash(st.PublicKey, r.Method, r.URL.RequestURI(), a.bodyHash) {
			s.Logger.WarnContext(r.Context(), "request with a bad signature", "path", r.URL.Path, "station", st.ID, "remote", r.RemoteAddr)
			writeError(w, http.StatusUnauthorized, syncproto.CodeBadSignature, "请求签名无效，请重新注册站点", 0)
			return nil
		}
		if off := auth.At.Sub(s.Now()); off > syncproto.SkewWindow || off < -syncproto.SkewWindow {
			writeError(w, http.StatusUnauthorized, syncproto.CodeClockSkew, "电脑时间与县里相差太大，已自动校准后重试", 0)
			return nil
		}
	}
	pool, done := d.pool, func() {}
	if legacy {
		// Only the envelope will tell who sent this: the address is all
		// that is known, and the station named may not be the sender.
		release, ok := s.gate.addresses.take(remoteHost(r), s.MaxPerAddress)
		if !ok {
			tooMany(w, 5+rand.IntN(25), "本网络地址同时上传的数据太多，稍后会自动重试")
			return nil
		}
		pool, done = s.gate.legacy, release
	} else {
		release, ok := s.gate.stations.take(st.ID, s.MaxPerStation)
		if !ok {
			// The station's own requests end soon; it comes back in seconds.
			tooMany(w, 2+rand.IntN(3), "本站已有同步正在进行，稍后会自动重试")
			return nil
		}
		done = release
	}
	t := time.NewTimer(s.QueueWait)
	defer t.Stop()
	arrived := time.Now()
	select {
	case pool <- struct{}{}:
		a.wait = time.Since(arrived)
		a.release = func() { <-pool; done() }
		return a
	case <-t.C:
		done()
		// Spread the returning stations over the next half minute.
		w.Header().Set("Retry-After", strconv.Itoa(5+rand.IntN(25)))
		writeError(w, http.StatusServiceUnavailable, syncproto.CodeOverloaded, d.busy, 0)
		return nil
	case <-r.Context().Done():
		done()
		return nil
	}
}

func tooMany(w http.ResponseWriter, retryAfter int, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	writeError(w, http.StatusTooManyRequests, syncproto.CodeTooMany, msg, 0)
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// pacedBodies holds every request body, of the station API and of the
// staff pages alike, to the pace of Limits. It replaces a blanket
// ReadTimeout, which either cuts a slow 2G upload or lets a trickle hold
// the connection for as long.
func (s *Server) pacedBodies(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody && s.BodyStall > 0 {
			now := time.Now()
			b := &pacedBody{ReadCloser: r.Body, rc: http.NewResponseController(w), stall: s.BodyStall, chunk: max(1, s.BodyChunk), end: now.Add(s.BodyMax)}
			if s.BodyMax <= 0 {
				b.end = now.Add(100 * 365 * 24 * time.Hour)
			}
			b.rc.SetReadDeadline(b.next(now))
			r.Body = b
		}
		h.ServeHTTP(w, r)
	})
}

// pacedBody moves the connection's read deadline on by stall each time
// chunk more bytes have come, never past end.
type pacedBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	stall time.Duration
	chunk int
	end   time.Time
	got   int // bytes since the deadline last moved
}

// Read moves the deadline while the body comes. Once it has all come,
// net/http clears the deadline itself before it watches the connection
// for the client going away, so a long merge after the body keeps its
// context (TestBodyPace).
func (b *pacedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if b.got += n; err == nil && b.got >= b.chunk {
		b.got = 0
		b.rc.SetReadDeadline(b.next(time.Now()))
	}
	return n, err
}

func (b *pacedBody) next(now time.Time) time.Time {
	if d := now.Add(b.stall); d.Before(b.end) {
		return d
	}
	return b.end
}

// httpServer is the county's HTTP server on addr. There is no ReadTimeout:
// bodies keep a pace instead (pacedBodies). The write timeout bounds a
// whole request from its headers on, as before; it must exceed BodyMax.
func (s *Server) httpServer(addr string) *http.Server {
	return &http.Server{
		Addr:    addr,
		Handler: s.NewHandler(),
		// The headers of a station's request are a few hundred bytes:
		// a second on 2G.
		ReadHeaderTimeout: 30 * time.Second,
		WriteTimeout:      10 * time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
}
