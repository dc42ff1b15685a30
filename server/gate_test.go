package server

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
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

	"github.com/google/uuid"

	"stationsync/internal/gen"
	"stationsync/internal/hlc"
	"stationsync/internal/records"
	"stationsync/syncproto"
)

var quietLog = slog.New(slog.DiscardHandler)

// keyed is an enrolled station with its private key.
type keyed struct {
	st  *Station
	key ed25519.PrivateKey
}

func enrollKeyed(t *testing.T, s Store) keyed {
	t.Helper()
	ctx := context.Background()
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	code, err := s.CreateCode(ctx, village, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Enroll(ctx, code, pub, "h", "v")
	if err != nil {
		t.Fatal(err)
	}
	return keyed{st, key}
}

// sealed is an envelope of n new persons from k, seqs first to first+n-1
// of epoch "e". pad makes each person's name that long and random, so
// that the envelope does not compress away.
func sealed(t *testing.T, k keyed, first, n, pad int) []byte {
	t.Helper()
	g := gen.New(int64(first))
	now := time.Now()
	b := &syncproto.Batch{Version: syncproto.Version, Station: k.st.ID, Epoch: "e", Village: k.st.Village, SentHLC: uint64(hlc.Make(now.UnixMilli(), 0))}
	for i := range n {
		f := fieldsOf(g.Person(k.st.Village))
		if pad > 0 {
			f["name"], _ = json.Marshal(strings.Repeat(uuid.NewString(), pad/36+1)[:pad])
		}
		b.Changes = append(b.Changes, syncproto.Change{Seq: uint64(first + i), HLC: uint64(hlc.Make(now.UnixMilli(), uint16(i))),
			Kind: string(records.Person), ID: uuid.Must(uuid.NewV7()).String(), Op: string(records.OpUpsert), Fields: f, By: "测试员", At: now.UnixMilli()})
	}
	env, err := syncproto.SealBatch(b, k.key, syncproto.Fast)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// pushHeaders are the headers a station sends with body: as this build
// does (withHash), or as an older build, which signs the same way but does
// not send the body's hash.
func pushHeaders(k keyed, body []byte, withHash bool) http.Header {
	h := http.Header{}
	h.Set(syncproto.HeaderVersion, strconv.Itoa(syncproto.Version))
	h.Set("Content-Type", syncproto.ContentEnvelope)
	h.Set("Authorization", syncproto.SignRequest(k.key, k.st.ID, http.MethodPost, "/v1/push", time.Now(), body))
	if withHash {
		h.Set(syncproto.HeaderContentSHA256, syncproto.BodyHash(body))
	}
	return h
}

// rawConn is a push written by hand on a TCP connection, so that a test
// decides how much of the body goes and when.
type rawConn struct {
	net.Conn
	br   *bufio.Reader
	body []byte
	sent int
}

// rawPush connects from local (an address of 127.0.0.0/8; "" for any),
// sends the headers and the first send bytes of body.
func rawPush(t *testing.T, addr, local, path string, h http.Header, body []byte, send int) *rawConn {
	t.Helper()
	d := net.Dialer{}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var b strings.Builder
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: county\r\nContent-Length: %d\r\n", path, len(body))
	h.Write(&b)
	b.WriteString("\r\n")
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(body[:send]); err != nil {
		t.Fatal(err)
	}
	return &rawConn{Conn: c, br: bufio.NewReader(c), body: body, sent: send}
}

// answer reads the answer, waiting at most within.
func (c *rawConn) answer(within time.Duration) (*http.Response, error) {
	c.SetReadDeadline(time.Now().Add(within))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return nil, err
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Type") == syncproto.ContentZJSON {
		raw, _ = syncproto.Decompress(raw, syncproto.MaxBatchJSON)
	}
	resp.Body = io.NopCloser(strings.NewReader(string(raw)))
	return resp, nil
}

// closed reports whether the county has closed the connection (after its
// answer, if any was read).
func (c *rawConn) closed(within time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(within))
	_, err := c.br.ReadByte()
	return err == io.EOF
}

func (c *rawConn) finish(t *testing.T) {
	t.Helper()
	if _, err := c.Write(c.body[c.sent:]); err != nil {
		t.Fatal(err)
	}
	c.sent = len(c.body)
}

func errCode(t *testing.T, resp *http.Response) string {
	t.Helper()
	var eb syncproto.ErrorBody
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &eb); err != nil {
		t.Fatalf("answer %d is not an error body: %q", resp.StatusCode, raw)
	}
	return eb.Error.Code
}

func gateServer(t *testing.T, tweak func(*Server)) (*Server, *httptest.Server, *CountyStore) {
	t.Helper()
	st := openTestStore(t)
	srv := New(st, quietLog)
	if tweak != nil {
		tweak(srv)
	}
	hs := httptest.NewServer(srv.NewHandler())
	t.Cleanup(hs.Close)
	return srv, hs, st
}

func personCount(t *testing.T, s *CountyStore) int {
	t.Helper()
	recs, err := s.Records(context.Background(), records.Person, village)
	if err != nil {
		t.Fatal(err)
	}
	return len(recs)
}

// answers reads every connection's answer at once and sends it on the
// channel, with the connection's index.
type answered struct {
	i    int
	resp *http.Response
	err  error
}

func answersOf(conns []*rawConn, within time.Duration) chan answered {
	out := make(chan answered, len(conns))
	for i, c := range conns {
		go func() {
			resp, err := c.answer(within)
			out <- answered{i, resp, err}
		}()
	}
	return out
}

// Pushes that cannot prove who sent them from their headers (no signature,
// an unknown or revoked station, a forged signature, a hash that is not
// one) are answered before their body is read, even when more of them
// come at once than the county has slots, and the connection is closed:
// none of them waits for the body, holds a slot or keeps the goroutine.
// Meanwhile a real station's push goes through.
func TestUnverifiedPushesAreRefusedBeforeTheirBody(t *testing.T) {
	srv, hs, store := gateServer(t, nil)
	addr := hs.Listener.Addr().String()
	real, other := enrollKeyed(t, store), enrollKeyed(t, store)
	revoked := enrollKeyed(t, store)
	if err := store.Revoke(context.Background(), revoked.st.ID); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 1<<20) // declared, never sent
	forged := func(k keyed, station string) http.Header {
		h := pushHeaders(k, big, true)
		h.Set("Authorization", strings.Replace(h.Get("Authorization"), "station="+k.st.ID, "station="+station, 1))
		return h
	}
	kinds := []struct {
		name   string
		header func() http.Header
		status int
		code   string
	}{
		{"no signature", func() http.Header { h := pushHeaders(real, big, true); h.Del("Authorization"); return h }, 401, syncproto.CodeBadSignature},
		{"unknown station", func() http.Header { return forged(other, "st_00000000deadbeef") }, 401, syncproto.CodeUnknownStn},
		{"another key for a real station", func() http.Header { return forged(other, real.st.ID) }, 401, syncproto.CodeBadSignature},
		{"hash not the signed one", func() http.Header {
			h := pushHeaders(real, big, true)
			h.Set(syncproto.HeaderContentSHA256, syncproto.BodyHash([]byte("x")))
			return h
		}, 401, syncproto.CodeBadSignature},
		{"hash not hex", func() http.Header {
			h := pushHeaders(real, big, true)
			h.Set(syncproto.HeaderContentSHA256, strings.ToUpper(h.Get(syncproto.HeaderContentSHA256)))
			return h
		}, 401, syncproto.CodeBadSignature},
		{"revoked station", func() http.Header { return pushHeaders(revoked, big, true) }, 403, syncproto.CodeRevoked},
	}
	n := 4 * len(kinds) // 24, more than the 16 slots
	conns := make([]*rawConn, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := kinds[i%len(kinds)].header()
			<-start
			conns[i] = rawPush(t, addr, "", "/v1/push", h, big, 1)
		}()
	}
	close(start)
	wg.Wait()
	answers := answersOf(conns, 10*time.Second)
	for range n {
		a := <-answers
		k := kinds[a.i%len(kinds)]
		if a.err != nil {
			t.Fatalf("%s: no answer with 1 of %d body bytes sent (%v): the county waits for the body", k.name, len(big), a.err)
		}
		if a.resp.StatusCode != k.status || errCode(t, a.resp) != k.code {
			t.Fatalf("%s: answered %d, want %d %s", k.name, a.resp.StatusCode, k.status, k.code)
		}
		if !conns[a.i].closed(5 * time.Second) {
			t.Fatalf("%s: connection kept open after the refusal", k.name)
		}
	}
	if len(srv.slots) != 0 || len(srv.gate.legacy) != 0 {
		t.Fatalf("%d slots and %d legacy slots held after every push was refused", len(srv.slots), len(srv.gate.legacy))
	}
	c := syncproto.NewClient(hs.URL)
	c.Station, c.Key, c.Logger = real.st.ID, real.key, quietLog
	if _, err := c.Push(context.Background(), sealed(t, real, 1, 3, 0)); err != nil {
		t.Fatal(err)
	}
	if got := personCount(t, store); got != 3 {
		t.Fatalf("county holds %d persons, want 3", got)
	}
}

// Many pushes from one station at once: MaxPerStation go in, the rest are
// answered 429 with a delta-seconds Retry-After at once, before their
// body, while the admitted ones are still uploading. The same batch sent
// twelve times is applied once. Other stations are not held back.
func TestPushPerStationLimitAtOnce(t *testing.T) {
	srv, hs, store := gateServer(t, nil)
	addr := hs.Listener.Addr().String()
	k, other := enrollKeyed(t, store), enrollKeyed(t, store)
	env := sealed(t, k, 1, 20, 0)
	const n = 12
	conns := make([]*rawConn, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := pushHeaders(k, env, true)
			<-start
			conns[i] = rawPush(t, addr, "", "/v1/push", h, env, len(env)/2)
		}()
	}
	close(start)
	wg.Wait()
	answers := answersOf(conns, 20*time.Second)
	refused := map[int]bool{}
	for range n - srv.MaxPerStation {
		a := <-answers
		if a.err != nil {
			t.Fatalf("only %d of %d excess pushes answered before their body (%v)", len(refused), n-srv.MaxPerStation, a.err)
		}
		ra, err := strconv.Atoi(a.resp.Header.Get("Retry-After"))
		if a.resp.StatusCode != http.StatusTooManyRequests || errCode(t, a.resp) != syncproto.CodeTooMany || err != nil || ra < 1 || ra > 30 {
			t.Fatalf("excess push answered %d, Retry-After %q; want 429 too_many with 1–30 s", a.resp.StatusCode, a.resp.Header.Get("Retry-After"))
		}
		refused[a.i] = true
	}
	// The two admitted are still uploading: the station's pull waits its
	// turn too, another station's push does not.
	pull := syncproto.NewClient(hs.URL)
	pull.Station, pull.Key, pull.Logger, pull.RetryMax = k.st.ID, k.key, quietLog, 0
	if _, err := pull.Pull(context.Background(), 0, "", 10, 0, "t"); !strings.Contains(fmt.Sprint(err), "429 too_many") {
		t.Fatalf("pull during two pushes: %v, want 429 too_many", err)
	}
	oc := syncproto.NewClient(hs.URL)
	oc.Station, oc.Key, oc.Logger = other.st.ID, other.key, quietLog
	if _, err := oc.Push(context.Background(), sealed(t, other, 1, 1, 0)); err != nil {
		t.Fatalf("another station's push: %v", err)
	}
	for i, c := range conns {
		if !refused[i] {
			c.finish(t)
		}
	}
	for range srv.MaxPerStation {
		a := <-answers
		if a.err != nil || a.resp.StatusCode != http.StatusOK {
			t.Fatalf("admitted push: %v %v", a.err, a.resp)
		}
	}
	if got := personCount(t, store); got != 21 {
		t.Fatalf("county holds %d persons, want the batch's 20 once and the other station's 1", got)
	}
	if _, err := pull.Pull(context.Background(), 0, "", 10, 0, "t"); err != nil {
		t.Fatalf("pull after the pushes: %v", err)
	}
}

// An older build's push, which has no body hash, still syncs. It goes
// through a pool of its own, limited per address, since it cannot be
// verified before its body: whoever merely names a station fills at most
// that pool, from at most MaxPerAddress connections per address, and
// verified stations keep every slot.
func TestLegacyPushesOwnPoolPerAddress(t *testing.T) {
	srv, hs, store := gateServer(t, func(s *Server) { s.LegacySlots, s.MaxPerAddress, s.QueueWait = 3, 2, 200*time.Millisecond })
	addr := hs.Listener.Addr().String()
	k := enrollKeyed(t, store)

	// An old build syncs: a push without the hash, then more.
	old := sealed(t, k, 1, 5, 0)
	c := rawPush(t, addr, "", "/v1/push", pushHeaders(k, old, false), old, len(old))
	if a, err := c.answer(10 * time.Second); err != nil || a.StatusCode != http.StatusOK {
		t.Fatalf("older build's push: %v %v", err, a)
	}

	// Eight slow legacy uploads naming the station from 127.0.0.1 at once.
	env := sealed(t, k, 6, 5, 0)
	const n = 8
	conns := make([]*rawConn, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := pushHeaders(k, env, false)
			<-start
			conns[i] = rawPush(t, addr, "127.0.0.1", "/v1/push", h, env, 10)
		}()
	}
	close(start)
	wg.Wait()
	answers := answersOf(conns, 20*time.Second)
	refused := map[int]bool{}
	for range n - srv.MaxPerAddress {
		a := <-answers
		if a.err != nil {
			t.Fatalf("only %d of %d excess legacy pushes answered before their body (%v)", len(refused), n-srv.MaxPerAddress, a.err)
		}
		if a.resp.StatusCode != http.StatusTooManyRequests || a.resp.Header.Get("Retry-After") == "" {
			t.Fatalf("excess legacy push from one address answered %d", a.resp.StatusCode)
		}
		refused[a.i] = true
	}
	// Another address gets the pool's last slot; a fourth waits and is
	// paced with 503.
	other := rawPush(t, addr, "127.0.0.2", "/v1/push", pushHeaders(k, env, false), env, 10)
	waitFor(t, func() bool { return len(srv.gate.legacy) == 3 })
	fourth := rawPush(t, addr, "127.0.0.3", "/v1/push", pushHeaders(k, env, false), env, 10)
	if a, err := fourth.answer(10 * time.Second); err != nil || a.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("legacy push with the pool full: %v %v, want 503", err, a)
	}
	// Verified pushes, from the same station and the same address, are
	// not held back by the full legacy pool.
	vc := syncproto.NewClient(hs.URL)
	vc.Station, vc.Key, vc.Logger = k.st.ID, k.key, quietLog
	if _, err := vc.Push(context.Background(), env); err != nil {
		t.Fatalf("verified push beside a full legacy pool: %v", err)
	}
	if len(srv.slots) != 0 || len(srv.gate.legacy) != 3 {
		t.Fatalf("slots %d, legacy %d; want 0 and 3", len(srv.slots), len(srv.gate.legacy))
	}
	other.finish(t)
	for i, c := range conns {
		if !refused[i] {
			c.finish(t)
		}
	}
	for range srv.MaxPerAddress {
		if a := <-answers; a.err != nil || a.resp.StatusCode != http.StatusOK {
			t.Fatalf("admitted legacy push: %v %v", a.err, a.resp)
		}
	}
	if a, err := other.answer(10 * time.Second); err != nil || a.StatusCode != http.StatusOK {
		t.Fatalf("legacy push from another address: %v %v", err, a)
	}
	if got := personCount(t, store); got != 10 {
		t.Fatalf("county holds %d persons, want 10: two batches of 5, each once", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10 s")
		}
	}
}

// A body that is not the one whose hash was signed is refused 401 and
// nothing of it is applied, though it is a valid envelope of the same
// station (the envelope's own signature would pass).
func TestPushBodyMustMatchSignedHash(t *testing.T) {
	_, hs, store := gateServer(t, nil)
	k := enrollKeyed(t, store)
	signed, sent := sealed(t, k, 1, 2, 0), sealed(t, k, 1, 3, 0)
	c := rawPush(t, hs.Listener.Addr().String(), "", "/v1/push", pushHeaders(k, signed, true), sent, len(sent))
	a, err := c.answer(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if a.StatusCode != http.StatusUnauthorized || errCode(t, a) != syncproto.CodeBadSignature {
		t.Fatalf("answered %d, want 401 bad_signature", a.StatusCode)
	}
	if got := personCount(t, store); got != 0 {
		t.Fatalf("%d persons applied from a body that was not signed", got)
	}
	c = rawPush(t, hs.Listener.Addr().String(), "", "/v1/push", pushHeaders(k, sent, true), sent, len(sent))
	if a, err := c.answer(10 * time.Second); err != nil || a.StatusCode != http.StatusOK {
		t.Fatalf("the same body with its own hash: %v %v", err, a)
	}
}

// An envelope of another station is refused: the slot and the limits
// were taken in the signer's name.
func TestPushOfAnotherStationsEnvelope(t *testing.T) {
	_, hs, store := gateServer(t, nil)
	k, other := enrollKeyed(t, store), enrollKeyed(t, store)
	env := sealed(t, other, 1, 2, 0)
	for _, withHash := range []bool{true, false} {
		c := rawPush(t, hs.Listener.Addr().String(), "", "/v1/push", pushHeaders(k, env, withHash), env, len(env))
		a, err := c.answer(10 * time.Second)
		if err != nil || a.StatusCode != http.StatusUnauthorized {
			t.Fatalf("hash header %v: %v %v, want 401", withHash, err, a)
		}
	}
	if got := personCount(t, store); got != 0 {
		t.Fatalf("%d persons applied", got)
	}
}
