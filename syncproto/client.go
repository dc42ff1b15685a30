package syncproto

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// Content types of the binary bodies.
const (
	ContentEnvelope = "application/vnd.stationsync.envelope"
	ContentZJSON    = "application/vnd.stationsync+json+zstd"
)

// Retry pacing of one request. Long outages are not retried here: the
// agent's outbox keeps the changes and its scheduler tries again later,
// with jitter, so that a county's stations do not all return at once.
const (
	RetryWaitMin  = 500 * time.Millisecond
	RetryWaitMax  = 30 * time.Second
	MaxRetryAfter = 10 * time.Minute // a server's Retry-After is clamped to this
	// IdleTimeout fails a request whose connection moved no byte for this
	// long: a stalled 2G link must not hang a sync forever.
	IdleTimeout = 45 * time.Second
)

// MaxReportedError bounds the bytes of a station's last error sent with a
// pull.
const MaxReportedError = 300

// Error is an answer the server gave with a status of 400 or more.
type Error struct {
	Status        int
	Code          string
	Message       string // Chinese, from the server, safe to show a cadre
	HWM           uint64
	ServerVersion int
	RetryAfter    time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("syncproto: server answered %d %s: %s", e.Status, e.Code, e.Message)
}

// Temporary reports whether trying again later may succeed.
func (e *Error) Temporary() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500 || e.Code == CodeClockSkew || e.Code == CodeGap
}

// IsVersionMismatch reports whether err says the two sides speak protocol
// versions that cannot talk.
func IsVersionMismatch(err error) bool {
	var ve *VersionError
	if errors.As(err, &ve) {
		return true
	}
	var e *Error
	return errors.As(err, &e) && e.Code == CodeVersion
}

// Client talks to a county server on behalf of one station.
type Client struct {
	BaseURL string
	Station string             // empty before enrollment
	Key     ed25519.PrivateKey // signs requests; nil before enrollment
	// Now is the station's clock corrected by its known offset; signatures
	// carry it.
	Now func() time.Time
	// OnServerTime, if set, receives the server's clock as it answered and
	// the round trip it took; the receiver compares it with its own clock
	// (which may be years off, and is not necessarily time.Now).
	OnServerTime func(server time.Time, rtt time.Duration)
	RetryMax     int
	// LastError, if set, goes with the next pull: the station's last sync
	// failure, so that the county's health page shows why a station is
	// behind.
	LastError string
	Logger    *slog.Logger
	HTTP      *http.Client // base client; its Transport is shared

	// The protocol version spoken: Version, unless a county that is not
	// upgraded yet refused it, in which case the county's own until
	// olderUntil, then Version is tried again.
	mu         sync.Mutex
	older      int
	olderUntil time.Time
}

// olderFor is how long a client speaks an older county's version before it
// tries its own again: counties are upgraded on a weekday, not by the
// minute.
const olderFor = 6 * time.Hour

// Speaks returns the protocol version the client speaks now. A batch
// pushed through it must be sealed with this version.
func (c *Client) Speaks() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.older != 0 && time.Now().Before(c.olderUntil) {
		return c.older
	}
	return Version
}

// speakOlder makes the client speak the server's version when err is the
// answer of a county one or more versions older that this build still
// speaks. It reports whether the version changed.
func (c *Client) speakOlder(err error) bool {
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeVersion || e.ServerVersion < MinVersion || e.ServerVersion >= c.Speaks() {
		return false
	}
	c.mu.Lock()
	c.older, c.olderUntil = e.ServerVersion, time.Now().Add(olderFor)
	c.mu.Unlock()
	if c.Logger != nil {
		c.Logger.Warn("the county speaks an older protocol; speaking its version", "county", e.ServerVersion, "ours", Version)
	}
	return true
}

// NewClient returns a client with a pooled keep-alive transport whose
// connections fail after IdleTimeout without progress.
func NewClient(baseURL string) *Client { return NewClientIdle(baseURL, IdleTimeout) }

// NewClientIdle is NewClient with another idle timeout.
func NewClientIdle(baseURL string, idle time.Duration) *Client {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &idleConn{Conn: c, idle: idle}, nil
		},
		// 2G round trips are 0.3–1 s; a TLS handshake takes several.
		TLSHandshakeTimeout:   60 * time.Second,
		ResponseHeaderTimeout: 120 * time.Second,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
	}
	return &Client{
		BaseURL:  baseURL,
		Now:      time.Now,
		RetryMax: 3,
		Logger:   slog.Default(),
		HTTP:     &http.Client{Transport: tr},
	}
}

// CloseIdle closes idle keep-alive connections.
func (c *Client) CloseIdle() {
	if c.HTTP != nil {
		c.HTTP.CloseIdleConnections()
	}
}

// Enroll exchanges a one-time code for a station identity.
func (c *Client) Enroll(ctx context.Context, req EnrollRequest) (*EnrollResponse, error) {
	for {
		req.Version = c.Speaks()
		body, err := json.Marshal(req)
		if err != nil {
			return nil, fmt.Errorf("encode enrolment: %w", err)
		}
		var out EnrollResponse
		err = c.do(ctx, http.MethodPost, "/v1/enroll", "application/json", body, false, &out)
		if c.speakOlder(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &out, nil
	}
}

// Push sends a sealed envelope and returns the per-change results. When the
// county refuses the envelope's version as too new and speaks an older one,
// the error says so (IsVersionMismatch) and Speaks has changed: seal the
// batch again with that version.
func (c *Client) Push(ctx context.Context, envelope []byte) (*PushResult, error) {
	var out PushResult
	err := c.do(ctx, http.MethodPost, "/v1/push", ContentEnvelope, envelope, true, &out)
	var e *Error
	if errors.As(err, &e) && e.Code == CodeClockSkew && c.OnServerTime != nil {
		// The refusal carried the county's time, which OnServerTime has
		// just taken: one more try is signed with a corrected clock.
		err = c.do(ctx, http.MethodPost, "/v1/push", ContentEnvelope, envelope, true, &out)
	}
	if err != nil {
		// The envelope was sealed in a version: the caller seals it again.
		c.speakOlder(err)
		return nil, err
	}
	return &out, nil
}

// Pull asks for the feed of the station's village after cursor.
func (c *Client) Pull(ctx context.Context, after int64, feedEpoch string, limit, pending int, agentVersion string) (*PullPage, error) {
	q := url.Values{}
	q.Set("after", strconv.FormatInt(after, 10))
	q.Set("feed", feedEpoch)
	q.Set("limit", strconv.Itoa(limit))
	q.Set("pending", strconv.Itoa(pending))
	q.Set("agent", agentVersion)
	if e := c.LastError; e != "" {
		if len(e) > MaxReportedError {
			e = strings.ToValidUTF8(e[:MaxReportedError], "")
		}
		q.Set("last_error", e)
	}
	var out PullPage
	err := c.do(ctx, http.MethodGet, "/v1/pull?"+q.Encode(), "", nil, true, &out)
	if c.speakOlder(err) {
		// A pull is the same in every version: ask again.
		err = c.do(ctx, http.MethodGet, "/v1/pull?"+q.Encode(), "", nil, true, &out)
	}
	if err != nil {
		return nil, err
	}
	return &out, nil
}

func (c *Client) do(ctx context.Context, method, pathQuery, ctype string, body []byte, sign bool, out any) error {
	// A Client made as a literal may leave these unset. A nil *slog.Logger
	// must not reach retryablehttp inside a non-nil interface: it would call
	// it and panic.
	var logger any
	if c.Logger != nil {
		logger = c.Logger
	}
	var transport http.RoundTripper
	if c.HTTP != nil {
		transport = c.HTTP.Transport
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	rc := &retryablehttp.Client{
		HTTPClient: &http.Client{
			Transport: transport,
			// Enough for the body at 1 KB/s; the idle timeout catches a stall
			// long before this.
			Timeout: 2*time.Minute + time.Duration(len(body)/1024)*time.Second,
		},
		Logger:       logger,
		RetryWaitMin: RetryWaitMin,
		RetryWaitMax: RetryWaitMax,
		RetryMax:     c.RetryMax,
		CheckRetry:   checkRetry,
		Backoff:      Backoff,
		// Keep the last answer: its body names why the server refused.
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	var sent time.Time
	rc.RequestLogHook = func(_ retryablehttp.Logger, r *http.Request, _ int) {
		// Sign every attempt anew: a retry after a long wait must carry a
		// fresh time.
		sent = time.Now()
		if sign && c.Key != nil {
			r.Header.Set("Authorization", SignRequest(c.Key, c.Station, method, pathQuery, now(), body))
		}
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, c.BaseURL+pathQuery, body)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	if body == nil {
		req, err = retryablehttp.NewRequestWithContext(ctx, method, c.BaseURL+pathQuery, nil)
		if err != nil {
			return fmt.Errorf("build request: %w", err)
		}
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set(HeaderVersion, strconv.Itoa(c.Speaks()))
	if sign && c.Key != nil && body != nil {
		// The signature covers this hash; sent beside it, it lets the
		// county check who signed before it takes the body (§9).
		req.Header.Set(HeaderContentSHA256, BodyHash(body))
	}
	resp, err := rc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, pathOnly(pathQuery), err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxBatchJSON+1))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, pathOnly(pathQuery), err)
	}
	if st := resp.Header.Get(HeaderServerTime); st != "" && c.OnServerTime != nil {
		if ms, err := strconv.ParseInt(st, 10, 64); err == nil {
			c.OnServerTime(time.UnixMilli(ms), time.Since(sent))
		}
	}
	if resp.Header.Get("Content-Type") == ContentZJSON {
		if raw, err = Decompress(raw, MaxBatchJSON); err != nil {
			return fmt.Errorf("%s %s: %w", method, pathOnly(pathQuery), err)
		}
	}
	if resp.StatusCode >= 400 {
		return decodeError(resp, raw)
	}
	if ct := resp.Header.Get("Content-Type"); ct != ContentZJSON && !strings.HasPrefix(ct, "application/json") {
		// A captive portal or a carrier's top-up page answered 200 with
		// HTML: that is no acknowledgement of anything.
		return &Error{Status: resp.StatusCode, Code: "http", Message: "收到的不是县级服务器的应答（可能是运营商或网络登录页面），请检查网络或服务器地址"}
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, pathOnly(pathQuery), err)
	}
	return nil
}

func pathOnly(pq string) string {
	p, _, _ := bytes.Cut([]byte(pq), []byte("?"))
	return string(p)
}

func decodeError(resp *http.Response, raw []byte) error {
	e := &Error{Status: resp.StatusCode, RetryAfter: RetryAfter(resp)}
	var eb ErrorBody
	if json.Unmarshal(raw, &eb) == nil && eb.Error.Code != "" {
		e.Code, e.Message, e.HWM, e.ServerVersion = eb.Error.Code, eb.Error.Message, eb.Error.HWM, eb.Error.Server
	} else {
		// Not our server: a captive portal or a proxy answered.
		e.Code, e.Message = "http", fmt.Sprintf("服务器返回了意外的应答（%d），请检查县级服务器地址", resp.StatusCode)
	}
	return e
}

// checkRetry retries transport errors, 429 and 5xx (pushes are idempotent:
// the server deduplicates by change id), but not an answer that asks for a
// long wait: the agent parks the batch and its scheduler comes back.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if RetryAfter(resp) > RetryWaitMax {
			return false, nil
		}
	}
	return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
}

// RetryAfter parses a delta-seconds Retry-After and clamps it to
// [0, MaxRetryAfter]. The HTTP-date form is ignored: comparing it with a
// station's clock, which may be years off, is meaningless.
func RetryAfter(resp *http.Response) time.Duration {
	if resp == nil {
		return 0
	}
	s, err := strconv.ParseInt(resp.Header.Get("Retry-After"), 10, 64)
	if errors.Is(err, strconv.ErrRange) && s > 0 {
		return MaxRetryAfter // more digits than an int64 holds
	}
	if err != nil || s < 0 {
		return 0
	}
	// Compare in seconds: time.Duration(s)*time.Second overflows for s
	// beyond ~9.2e9 and would come out negative.
	if s >= int64(MaxRetryAfter/time.Second) {
		return MaxRetryAfter
	}
	return time.Duration(s) * time.Second
}

// Backoff is capped exponential backoff with full jitter; a server's
// Retry-After, clamped, is the floor.
func Backoff(minWait, maxWait time.Duration, attempt int, resp *http.Response) time.Duration {
	if ra := RetryAfter(resp); ra > 0 {
		return min(ra, maxWait) + rand.N(time.Second)
	}
	return FullJitter(minWait, maxWait, attempt)
}

// RoundWait is how long a station waits after its failures-th failed
// round in a row before the next: capped exponential backoff with full
// jitter (FullJitter from 2 s up to retryCap), or, when the county's last
// answer asked for longer (429/503 Retry-After), that wait plus up to a
// quarter more (at least a second) of jitter. Without the jitter, a
// herd told "come back in 10 s" in the same second comes back in the same
// second, and the county pays for it again.
func RoundWait(failures int, retryCap time.Duration, err error) time.Duration {
	wait := FullJitter(2*time.Second, retryCap, failures)
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > wait {
		wait = e.RetryAfter + rand.N(max(time.Second, e.RetryAfter/4))
	}
	return wait
}

// FullJitter returns a random wait in [0, min(maxWait, minWait·2^attempt)].
func FullJitter(minWait, maxWait time.Duration, attempt int) time.Duration {
	ceil := maxWait
	if attempt < 30 {
		if c := minWait << attempt; c > 0 && c < maxWait {
			ceil = c
		}
	}
	return rand.N(ceil + 1)
}

// idleConn fails a read or write that makes no progress for idle.
type idleConn struct {
	net.Conn
	idle time.Duration
}

func (c *idleConn) Read(p []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(c.idle))
	return c.Conn.Read(p)
}

func (c *idleConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.idle))
	return c.Conn.Write(p)
}
