package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"stationsync/syncproto"
)

// Enrollment limits. POST /v1/enroll needs no identity (it is how a station
// gets one), so it is where codes are guessed and where a flood costs the
// county a database lookup and an audit row each. Every attempt takes a
// token from its address's bucket, and, once the code is read, from the
// code's, before any work is done: a burst of parallel guesses gets 429
// at once, not after the lookups (LESSONS: limits checked before expensive
// work must be counted before it too). A successful enrollment gives its
// tokens back, so a technician enrolling a township's stations from one
// address, or a county behind one carrier NAT, is not stopped.
//
// The address is the TCP peer (RemoteAddr), an IPv6 address counted by its
// /64, which one subscriber usually holds whole. A reverse proxy in front
// of the county makes every station one address: raise enrollPerAddress
// there, or let the proxy limit.
//
// The address's burst bounds enrollments in flight from one address too
// (a success gives its token back only when it is done): 32 leaves room
// for an installer's script or a proxy enrolling 16 stations at once, as
// the chaos suite's herd does, and still answers a flood of guesses with
// 429 after 32 lookups; codes have 31^10 values, so the limit is about
// load and the audit log, not about guessing odds.
const (
	enrollPerAddress = 32               // burst of attempts per address
	enrollAddrRefill = 15 * time.Second // one more attempt per address
	enrollPerCode    = 5                // burst of attempts per code
	enrollCodeRefill = 2 * time.Minute  // one more attempt per code
	// enrollMaxKeys bounds the buckets kept; beyond it, full (idle) ones
	// are dropped, and if none is, the attempt is refused.
	enrollMaxKeys = 50000
	// enrollRetryAfter is at least what a client waits before trying again:
	// above syncproto's in-request retry cap (30 s), so a station's client
	// does not retry inside the same request but reports it.
	enrollRetryAfter = 60 * time.Second
)

// bucket is a token bucket: n tokens at time at.
type bucket struct {
	n  float64
	at time.Time
}

type limiter struct {
	burst  float64
	refill time.Duration
	m      map[string]*bucket
}

func newLimiter(burst int, refill time.Duration) *limiter {
	return &limiter{burst: float64(burst), refill: refill, m: map[string]*bucket{}}
}

func (l *limiter) level(b *bucket, now time.Time) float64 {
	return math.Min(l.burst, b.n+float64(now.Sub(b.at))/float64(l.refill))
}

// take takes a token for key; if none is left it returns how long until
// one is.
func (l *limiter) take(key string, now time.Time) (ok bool, wait time.Duration) {
	b := l.m[key]
	if b == nil {
		if len(l.m) >= enrollMaxKeys {
			for k, x := range l.m {
				if l.level(x, now) >= l.burst {
					delete(l.m, k)
				}
			}
		}
		if len(l.m) >= enrollMaxKeys {
			return false, l.refill
		}
		b = &bucket{n: l.burst, at: now}
		l.m[key] = b
	}
	b.n, b.at = l.level(b, now), now
	if b.n < 1 {
		return false, time.Duration((1 - b.n) * float64(l.refill))
	}
	b.n--
	return true, 0
}

// give returns a token taken for key.
func (l *limiter) give(key string, now time.Time) {
	if b := l.m[key]; b != nil {
		b.n, b.at = math.Min(l.burst, l.level(b, now)+1), now
	}
}

// enrollGate holds one server's enrollment buckets.
type enrollGate struct {
	mu   sync.Mutex
	addr *limiter
	code *limiter
	// limitedAudit: when an address's refusals were last audited. A flood
	// of refused attempts writes one audit row per address and refill
	// period, not one per request.
	limitedAudit map[string]time.Time
}

// newEnrollGate is a handler's enrollment buckets (NewHandler); they used
// to live in a package-level map keyed by *Server, never emptied.
func newEnrollGate() *enrollGate {
	return &enrollGate{addr: newLimiter(enrollPerAddress, enrollAddrRefill), code: newLimiter(enrollPerCode, enrollCodeRefill), limitedAudit: map[string]time.Time{}}
}

// addrKey is the bucket of a request's peer: the IP, or its /64 for IPv6.
func addrKey(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip4 := ip.To4(); ip4 != nil {
		return ip4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// codeKey is the bucket of a code: its normalised hash, so that spellings
// of one code share it and no code sits in memory.
func codeKey(code string) string {
	h := sha256.Sum256([]byte("bucket:" + normalizeCode(code)))
	return hex.EncodeToString(h[:12])
}

// enrollAttempt is one enrollment request's claim on the buckets.
type enrollAttempt struct {
	g          *enrollGate
	addr, code string
}

// admitAddr takes the address's token, or answers 429 (audited once per
// period) and returns nil.
func (s *Server) admitAddr(w http.ResponseWriter, r *http.Request) *enrollAttempt {
	g, now, key := s.enroll, s.Now(), addrKey(r.RemoteAddr)
	g.mu.Lock()
	ok, wait := g.addr.take(key, now)
	audit := false
	if !ok && now.Sub(g.limitedAudit[key]) >= enrollAddrRefill*enrollPerAddress {
		g.limitedAudit[key], audit = now, true
		if len(g.limitedAudit) > enrollMaxKeys {
			clear(g.limitedAudit)
		}
	}
	g.mu.Unlock()
	if !ok {
		if audit {
			s.auditEnrollFailure(r, "注册尝试过多（此地址）：已暂停受理，之后的拒绝不再逐条记录", "", "", nil)
		}
		s.refuseEnroll(w, wait)
		return nil
	}
	return &enrollAttempt{g: g, addr: key}
}

// admitCode takes the code's token, or answers 429. The address's token
// stays spent: the attempt was made.
func (s *Server) admitCode(w http.ResponseWriter, r *http.Request, at *enrollAttempt, code string) bool {
	key := codeKey(code)
	at.g.mu.Lock()
	ok, wait := at.g.code.take(key, s.Now())
	at.g.mu.Unlock()
	if !ok {
		s.refuseEnroll(w, wait)
		return false
	}
	at.code = key
	return true
}

// succeeded gives the attempt's tokens back.
func (at *enrollAttempt) succeeded(now time.Time) {
	at.g.mu.Lock()
	at.g.addr.give(at.addr, now)
	if at.code != "" {
		at.g.code.give(at.code, now)
	}
	at.g.mu.Unlock()
}

func (s *Server) refuseEnroll(w http.ResponseWriter, wait time.Duration) {
	wait = max(wait, enrollRetryAfter)
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	writeError(w, http.StatusTooManyRequests, syncproto.CodeRateLimited, "注册尝试太多，请核对注册码，"+strconv.Itoa(int(math.Ceil(wait.Minutes())))+" 分钟后再试", 0)
}

// enrollCodeInfo tells, for the audit log, what a refused code was for.
type enrollCodeInfo interface {
	EnrollCodeInfo(ctx context.Context, code string) (village, usedBy string)
}

// EnrollCodeInfo returns the village of a code and the station that used
// it ("" when unknown or unused).
func (s *CountyStore) EnrollCodeInfo(ctx context.Context, code string) (village, usedBy string) {
	s.db.R.QueryRowContext(ctx, `SELECT village, coalesce(used_by, '') FROM enrol_codes WHERE code_hash = ?`, hashCode(code)).Scan(&village, &usedBy)
	return village, usedBy
}

// auditEnrollFailure writes a refused enrollment to the audit log, where the
// county's staff see it: the reason, the village the code was for and the
// station that holds it (when known), the name and key the PC claimed,
// and its address.
func (s *Server) auditEnrollFailure(r *http.Request, reason, code, village string, req *syncproto.EnrollRequest) {
	a, ok := s.Store.(auditor) // accounts.go
	if !ok {
		return
	}
	detail := reason
	claimed := ""
	if req != nil {
		claimed = trunc(req.Hostname, 100)
		if len(req.PublicKey) > 0 {
			k := sha256.Sum256(req.PublicKey)
			detail += "；公钥 " + hex.EncodeToString(k[:6])
		}
		if req.AgentVersion != "" {
			detail += "；版本 " + trunc(req.AgentVersion, 40)
		}
	}
	if code != "" {
		if ci, ok := s.Store.(enrollCodeInfo); ok {
			v, usedBy := ci.EnrollCodeInfo(r.Context(), code)
			if village == "" {
				village = v
			}
			if usedBy != "" {
				detail += "；该注册码已由站点 " + usedBy + " 使用"
			}
		}
	}
	// The claimed host name goes in the user column: it is who the PC
	// says it is. Prefixed, so it cannot pass for a staff account.
	user := "站点?"
	if claimed != "" {
		user = "站点?" + claimed
	}
	if err := a.Audit(context.WithoutCancel(r.Context()), user, AuditEnrollFailed, village, detail, r.RemoteAddr); err != nil {
		s.Logger.Error("audit refused enrolment", "err", err)
	}
}

// placeNamer gives the names the county gave its places (places.go).
type placeNamer interface {
	PlaceNames(ctx context.Context) (map[string]string, error)
}

// nameEnrollment adds the county's, township's and village's names to an
// enrollment answer, for the person who confirms it on the station.
func (s *Server) nameEnrollment(ctx context.Context, resp *syncproto.EnrollResponse) {
	pn, ok := s.Store.(placeNamer)
	if !ok || len(resp.Village) != 12 {
		return
	}
	names, err := pn.PlaceNames(ctx)
	if err != nil {
		return
	}
	// A name the county typed, else the official one (places.go): a
	// county that typed nothing is still named to the confirming cadre.
	resp.CountyName, resp.TownshipName, resp.VillageName = PlaceName(names, resp.Village[:6]), PlaceName(names, resp.Village[:9]), PlaceName(names, resp.Village)
}
