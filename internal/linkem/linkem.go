package linkem

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Options describes the emulated link. The zero value is a perfect link.
type Options struct {
	// Latency is the one-way delay added in each direction, so a request and
	// its response pay it twice.
	Latency time.Duration
	// Jitter varies the latency uniformly within ±Jitter per chunk. Chunks
	// are never reordered: a chunk that would overtake its predecessor is
	// held back, as TCP's in-order delivery would do.
	Jitter time.Duration
	// UpBytesPerSec limits client→server throughput; 0 means unlimited.
	UpBytesPerSec int
	// DownBytesPerSec limits server→client throughput; 0 means unlimited.
	DownBytesPerSec int
	// BlackHole keeps connections open and drains what peers send but
	// delivers nothing (not even a FIN), so only client timeouts can notice.
	BlackHole bool
	// ResetAfterUpBytes, if > 0, resets both sides (RST) once that many
	// client→server bytes have been delivered on a connection, emulating a
	// link that dies in the middle of a request body.
	ResetAfterUpBytes int64
	// CutDownAfterBytes, if > 0, delivers at most that many server→client
	// bytes on a connection and then closes both sides, emulating a response
	// lost after the server had already committed it.
	CutDownAfterBytes int64
	// Down closes existing connections and closes new ones as soon as they
	// are accepted, as when the station loses coverage.
	Down bool
	// CloseDelay holds each end of stream (FIN), in either direction, this
	// long after the bytes before it were delivered, like toxiproxy's
	// slow_close: a peer that closed its socket still looks open to the
	// other side, which may keep writing into a dead connection.
	CloseDelay time.Duration
}

// Stats counts what the proxy actually delivered, which lets tests check
// that a failure mode cut traffic where they expected.
type Stats struct {
	Conns     int64 // connections accepted and connected to the target
	UpBytes   int64 // client→server bytes delivered to the server
	DownBytes int64 // server→client bytes delivered to the client
	HeldFINs  int64 // ends of stream held back by CloseDelay
}

const (
	// maxPacedChunk keeps a paced chunk small so delivery looks like a
	// stream rather than bursts.
	maxPacedChunk = 1024
	// minPacedChunk avoids a syscall per handful of bytes on very slow links.
	minPacedChunk = 64
	// unpacedChunk is larger because without a rate limit smoothness does
	// not matter and fewer chunks mean less overhead.
	unpacedChunk = 16 * 1024
	// queueChunks bounds how much a direction buffers, so a fast sender
	// feels back-pressure instead of the proxy growing without limit.
	queueChunks = 256
	// acceptRetry is the pause after a transient Accept error (e.g. EMFILE)
	// so the loop does not spin.
	acceptRetry = 10 * time.Millisecond
)

// Proxy is a TCP proxy on 127.0.0.1 that forwards to a loopback target
// through an emulated link. It is safe for concurrent use.
type Proxy struct {
	target string
	ln     *net.TCPListener
	dialer net.Dialer
	opts   atomic.Pointer[Options]

	mu     sync.Mutex
	links  map[*link]struct{}
	closed bool
	wg     sync.WaitGroup

	conns, up, down, held atomic.Int64
}

// New starts a proxy on 127.0.0.1 with an ephemeral port that forwards to
// target ("host:port"). The target is only dialled when a client connects,
// so it need not be up yet. Targets other than loopback IPs or "localhost"
// are refused so tests cannot leak traffic off the machine.
func New(target string, opts Options) (*Proxy, error) {
	if err := checkLoopbackTarget(target); err != nil {
		return nil, err
	}
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("linkem: listen: %w", err)
	}
	p := &Proxy{
		target: target,
		ln:     ln,
		links:  make(map[*link]struct{}),
		// "localhost" is resolved at dial time, so the resolved address is
		// checked again here in case the hosts file maps it elsewhere.
		dialer: net.Dialer{Control: func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return fmt.Errorf("linkem: refusing to dial non-loopback address %s", address)
			}
			return nil
		}},
	}
	p.opts.Store(&opts)
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

func checkLoopbackTarget(target string) error {
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return fmt.Errorf("linkem: bad target %q: %w", target, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("linkem: target %q is not a loopback address", target)
}

// Addr returns the proxy's listening address, "127.0.0.1:port".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL returns "http://" + Addr(), ready to use as an HTTP base URL.
func (p *Proxy) URL() string { return "http://" + p.Addr() }

// Set replaces the link options. Chunks not yet delivered and new
// connections use the new options, so a test can degrade or heal the link
// in the middle of a transfer.
func (p *Proxy) Set(opts Options) {
	p.opts.Store(&opts)
	if !opts.Down {
		return
	}
	p.mu.Lock()
	ls := make([]*link, 0, len(p.links))
	for l := range p.links {
		ls = append(ls, l)
	}
	p.mu.Unlock()
	for _, l := range ls {
		l.kill(false)
	}
}

// Stats returns counters since New.
func (p *Proxy) Stats() Stats {
	return Stats{Conns: p.conns.Load(), UpBytes: p.up.Load(), DownBytes: p.down.Load(), HeldFINs: p.held.Load()}
}

// Close stops the listener, closes every connection and waits for all of
// the proxy's goroutines, so tests that check for leaks can rely on it.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	ls := make([]*link, 0, len(p.links))
	for l := range p.links {
		ls = append(ls, l)
	}
	p.mu.Unlock()

	err := p.ln.Close()
	for _, l := range ls {
		l.kill(false)
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) options() Options { return *p.opts.Load() }

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(acceptRetry)
			continue
		}
		l := &link{p: p, client: c, done: make(chan struct{})}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return
		}
		// Checked under p.mu: Set stores Down before it takes p.mu to
		// collect the links to close, so a connection accepted while Set
		// runs is either among those or sees Down here. Nothing the client
		// sends after Set(Down) returned can reach the target.
		if p.options().Down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.links[l] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go l.run()
	}
}

// link is one proxied connection: a client socket, its server socket and
// the two directions between them.
type link struct {
	p      *Proxy
	client *net.TCPConn

	mu     sync.Mutex
	server *net.TCPConn // nil until dialled
	killed bool

	done     chan struct{} // closed by kill; wakes every goroutine
	once     sync.Once
	finished atomic.Int32 // directions that delivered their FIN
}

func (l *link) run() {
	defer func() {
		l.kill(false)
		l.p.mu.Lock()
		delete(l.p.links, l)
		l.p.mu.Unlock()
		l.p.wg.Done()
	}()

	c, err := l.p.dialer.Dial("tcp", l.p.target)
	if err != nil {
		return // closing the client looks like a refused connection
	}
	server := c.(*net.TCPConn)
	l.mu.Lock()
	if l.killed {
		l.mu.Unlock()
		server.Close()
		return
	}
	l.server = server
	l.mu.Unlock()
	l.p.conns.Add(1)

	upQ := make(chan chunk, queueChunks)
	downQ := make(chan chunk, queueChunks)
	var wg sync.WaitGroup
	wg.Add(4)
	go func() { defer wg.Done(); l.read(l.client, upQ, true) }()
	go func() { defer wg.Done(); l.write(server, upQ, true) }()
	go func() { defer wg.Done(); l.read(server, downQ, false) }()
	go func() { defer wg.Done(); l.write(l.client, downQ, false) }()
	wg.Wait()
}

// kill tears the link down. With rst the sockets are closed with linger 0
// so both peers see ECONNRESET rather than an orderly EOF.
func (l *link) kill(rst bool) {
	l.once.Do(func() {
		l.mu.Lock()
		l.killed = true
		server := l.server
		l.mu.Unlock()
		close(l.done)
		for _, c := range []*net.TCPConn{l.client, server} {
			if c == nil {
				continue
			}
			if rst {
				c.SetLinger(0)
			}
			c.Close()
		}
	})
}

// chunk is a piece of a stream with the time it entered the link; eof
// marks the peer's FIN, which travels through the link like data so it
// is not delivered ahead of the bytes before it.
type chunk struct {
	data []byte
	at   time.Time
	eof  bool
}

func (l *link) rate(up bool, o Options) int {
	if up {
		return o.UpBytesPerSec
	}
	return o.DownBytesPerSec
}

func chunkSize(rate int) int {
	if rate <= 0 {
		return unpacedChunk
	}
	// About 50 ms of link time per chunk keeps pacing smooth.
	return min(max(rate/20, minPacedChunk), maxPacedChunk)
}

func (l *link) read(src *net.TCPConn, q chan<- chunk, up bool) {
	for {
		buf := make([]byte, chunkSize(l.rate(up, l.p.options())))
		n, err := src.Read(buf)
		now := time.Now()
		if n > 0 && !l.enqueue(q, chunk{data: buf[:n], at: now}) {
			return
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			l.enqueue(q, chunk{at: now, eof: true})
			return
		default:
			l.kill(false)
			return
		}
	}
}

// enqueue hands c to the writer and reports whether the link is still up.
// A black hole drops here, not only at delivery, so the queue never fills
// and the sender keeps draining as it would into a dead route.
func (l *link) enqueue(q chan<- chunk, c chunk) bool {
	if l.p.options().BlackHole {
		return true
	}
	select {
	case q <- c:
		return true
	case <-l.done:
		return false
	}
}

// write delivers chunks at the time a real link would: each chunk starts
// transmitting when both it has arrived and the previous chunk has left,
// takes len/rate to serialise, then needs latency±jitter to propagate.
func (l *link) write(dst *net.TCPConn, q <-chan chunk, up bool) {
	var (
		txFree    time.Time // when the emulated link finishes sending the previous chunk
		lastDue   time.Time // delivery time of the previous chunk, to keep order
		delivered int64
	)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var c chunk
		select {
		case c = <-q:
		case <-l.done:
			return
		}
		o := l.p.options()
		if o.BlackHole {
			continue
		}
		start := c.at
		if txFree.After(start) {
			start = txFree
		}
		if r := l.rate(up, o); r > 0 && len(c.data) > 0 {
			start = start.Add(time.Duration(int64(len(c.data)) * int64(time.Second) / int64(r)))
		}
		txFree = start
		due := start.Add(latency(o))
		if due.Before(lastDue) {
			due = lastDue
		}
		lastDue = due
		if c.eof && o.CloseDelay > 0 {
			// The FIN is the last chunk of this direction, so holding it
			// back cannot reorder anything.
			due = due.Add(o.CloseDelay)
			l.p.held.Add(1)
		}
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-l.done:
				return
			}
		}

		// Re-read: the link may have changed while this chunk was in flight.
		o = l.p.options()
		if o.BlackHole {
			continue
		}
		if c.eof {
			if dst.CloseWrite() != nil {
				l.kill(false)
				return
			}
			if l.finished.Add(1) == 2 {
				l.kill(false)
			}
			return
		}

		data := c.data
		limit, rst := o.CutDownAfterBytes, false
		if up {
			limit, rst = o.ResetAfterUpBytes, true
		}
		cut := false
		if limit > 0 && delivered+int64(len(data)) >= limit {
			data = data[:max(limit-delivered, 0)]
			cut = true
		}
		n, err := dst.Write(data)
		delivered += int64(n)
		if up {
			l.p.up.Add(int64(n))
		} else {
			l.p.down.Add(int64(n))
		}
		if err != nil {
			l.kill(false)
			return
		}
		if cut {
			if !rst {
				// FIN first so the client sees a clean, short stream rather
				// than a reset that could discard what it already received.
				dst.CloseWrite()
			}
			l.kill(rst)
			return
		}
	}
}

func latency(o Options) time.Duration {
	d := o.Latency
	if o.Jitter > 0 {
		d += time.Duration(rand.Int64N(2*int64(o.Jitter)+1)) - o.Jitter
	}
	return max(d, 0)
}
