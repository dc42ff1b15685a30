package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"stationsync/installer"
	"stationsync/internal/gen"
	"stationsync/internal/hlc"
	"stationsync/internal/pii"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
	"stationsync/server"
	"stationsync/syncproto"
)

// No name, ID number or phone number reaches the county's log, at the
// most talkative level, in either format: a realistic session — a station
// enrols and pushes people, visits and applications from the generator,
// with mistakes in them; staff log in (and fail to), search for people by
// name and number, open their records, edit them wrongly, export them;
// visitors read the portal; callers send garbage — and every line the
// server wrote, to its file and to standard error, is scanned with
// internal/pii's scanner and for every name the session used.
func TestNoPersonalDataInTheLog(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) { testNoPersonalDataInTheLog(t, format) })
	}
}

const (
	piiVillage = "340123101201"
	piiPass    = "correct horse battery"
)

// lockedBuffer is standard error as the server writes it from many
// goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testNoPersonalDataInTheLog(t *testing.T, format string) {
	t.Setenv("LOG_LEVEL", "debug")
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The account and the enrolment code, made as an operator makes them.
	var out, errb bytes.Buffer
	if code := Main(ctx, []string{"user", "add", "--data", dir, "--username", "admin", "--name", "管理员", "--role", "admin", "--full-numbers"},
		strings.NewReader(piiPass+"\n"), &out, &errb); code != 0 {
		t.Fatalf("user add: %d %s", code, errb.String())
	}
	st, err := server.OpenSQLite(ctx, filepath.Join(dir, "county.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	enrolCode, err := st.CreateCode(ctx, piiVillage, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	addr, maddr := testsupport.FreeAddr(t), testsupport.FreeAddr(t)
	stderr := &lockedBuffer{}
	served := make(chan int, 1)
	go func() {
		served <- Main(ctx, []string{"serve", "--data", dir, "--listen", addr, "--log-format", format, "--metrics-addr", maddr},
			strings.NewReader(""), io.Discard, stderr)
	}()
	base := "http://" + addr
	waitUp(t, base+"/readyz", served, stderr)

	s := &piiSession{t: t, base: base}
	s.enrol(enrolCode)
	s.pushFixtures()
	s.stationMistakes()
	s.staff()
	s.visitors()
	if code, body := s.get(nil, "http://"+maddr+"/metrics", nil); code != 200 || !strings.Contains(body, "stationsync_push_changes_total") {
		t.Errorf("metrics listener: %d %.200s", code, body)
	}

	cancel()
	select {
	case code := <-served:
		if code != 0 {
			t.Errorf("serve exited %d: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	file, err := os.ReadFile(installer.LogPath(dir, serviceName))
	if err != nil {
		t.Fatal(err)
	}
	// The station's id is random hex ("st_" and 16 characters): a run of
	// eleven digits in it would read as a phone number, and it is no
	// one's. It is the one thing taken out before the scan.
	logs := strings.ReplaceAll(string(file)+stderr.String(), s.id, "st_ID")
	// The session reached the server: the log holds its requests.
	for _, want := range []string{"county server listening", "http request", "push applied", "request_id"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q: the session did not run as meant", want)
		}
	}
	if format == "json" {
		for _, line := range strings.Split(strings.TrimSpace(string(file)), "\n") {
			if !json.Valid([]byte(line)) {
				t.Errorf("not a JSON line: %q", line)
			}
		}
	}
	// The scan must be able to fail: a line that names someone is caught.
	planted := fmt.Sprintf(`{"msg":"planted","q":"%s","tel":"%s"}`, s.names[0], s.phones[0])
	if len(leaks(planted, s.names)) < 2 {
		t.Fatalf("the scan misses a planted leak: %q", planted)
	}
	for _, l := range leaks(logs, s.names) {
		t.Errorf("personal data in the log: %s", l)
	}
	t.Logf("%d log lines scanned, %d names, %d ID numbers, %d phones in the session", strings.Count(logs, "\n"), len(s.names), len(s.ids), len(s.phones))
}

// leaks lists the log lines holding a personal number (pii.FindNumbers,
// over the line as written, for a JSON line its decoded values, and either
// percent-decoded) or one of names.
func leaks(logs string, names []string) []string {
	var out []string
	for _, line := range strings.Split(logs, "\n") {
		texts := []string{line}
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil {
			for _, v := range rec {
				texts = append(texts, fmt.Sprint(v))
			}
		}
		// A URL in a line holds names percent-encoded.
		for _, text := range texts[:len(texts):len(texts)] {
			if u, err := url.QueryUnescape(text); err == nil && u != text {
				texts = append(texts, u)
			}
		}
		for _, text := range texts {
			for _, sp := range pii.FindNumbers(text) {
				out = append(out, fmt.Sprintf("%s %s in %q", sp.Kind.Label(), sp.Masked, line))
			}
			for _, n := range names {
				if strings.Contains(text, n) {
					out = append(out, fmt.Sprintf("name %s in %q", n, line))
				}
			}
		}
	}
	return out
}

func waitUp(t *testing.T, url string, served chan int, stderr *lockedBuffer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case code := <-served:
			t.Fatalf("serve exited %d: %s", code, stderr.String())
		default:
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("serve not ready: %s", stderr.String())
}

// piiSession is the session's caller side: the station's key, the people
// it sent, and a staff browser.
type piiSession struct {
	t      *testing.T
	base   string
	key    ed25519.PrivateKey
	id     string
	seq    uint64
	staffC *http.Client

	names, ids, phones []string
	persons            []string // record ids
}

func (s *piiSession) get(c *http.Client, u string, h http.Header) (int, string) {
	return s.do(c, http.MethodGet, u, h, nil)
}

func (s *piiSession) do(c *http.Client, method, u string, h http.Header, body []byte) (int, string) {
	s.t.Helper()
	if c == nil {
		c = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (s *piiSession) enrol(code string) {
	pub, key, _ := ed25519.GenerateKey(nil)
	// First a code that is someone's phone number, then the real one.
	for _, c := range []string{"13175094058", code} {
		body, _ := json.Marshal(syncproto.EnrollRequest{Version: syncproto.Version, Code: c, PublicKey: pub, Hostname: "DESKTOP-7Q2KD1", AgentVersion: "test"})
		st, resp := s.do(nil, http.MethodPost, s.base+"/v1/enroll", http.Header{"Content-Type": {"application/json"}}, body)
		if c == code {
			var er syncproto.EnrollResponse
			if st != 200 || json.Unmarshal([]byte(resp), &er) != nil {
				s.t.Fatalf("enrol: %d %s", st, resp)
			}
			s.key, s.id = key, er.StationID
		}
	}
}

// push sends changes as one signed batch and returns the status.
func (s *piiSession) push(changes []syncproto.Change, tamper bool) int {
	now := time.Now()
	for i := range changes {
		s.seq++
		changes[i].Seq, changes[i].HLC, changes[i].At = s.seq, uint64(hlc.Make(now.UnixMilli(), uint16(s.seq))), now.UnixMilli()
		if changes[i].By == "" {
			changes[i].By = "村干部"
		}
	}
	b := &syncproto.Batch{Version: syncproto.Version, Station: s.id, Epoch: "e1", Village: piiVillage, SentHLC: uint64(hlc.Make(now.UnixMilli(), 0)), Pending: 3, Changes: changes}
	env, err := syncproto.SealBatch(b, s.key, syncproto.Fast)
	if err != nil {
		s.t.Fatal(err)
	}
	signed := env
	if tamper {
		signed = append([]byte("x"), env...)
	}
	h := http.Header{}
	h.Set(syncproto.HeaderVersion, strconv.Itoa(syncproto.Version))
	h.Set("Content-Type", syncproto.ContentEnvelope)
	h.Set("Authorization", syncproto.SignRequest(s.key, s.id, http.MethodPost, "/v1/push", time.Now(), signed))
	h.Set(syncproto.HeaderContentSHA256, syncproto.BodyHash(signed))
	code, _ := s.do(nil, http.MethodPost, s.base+"/v1/push", h, env)
	if tamper {
		s.seq -= uint64(len(changes))
	}
	return code
}

func change(kind records.Kind, id string, m map[string]any) syncproto.Change {
	f := map[string]json.RawMessage{}
	for k, v := range m {
		f[k], _ = json.Marshal(v)
	}
	return syncproto.Change{Kind: string(kind), ID: id, Op: string(records.OpUpsert), Fields: f}
}

// collect gathers the names and numbers of a generated record, at any
// depth (an application's household members).
func (s *piiSession) collect(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, vv := range x {
			if str, ok := vv.(string); ok && str != "" {
				switch k {
				case "name", "applicant_name":
					s.names = append(s.names, str)
				case "id_number":
					s.ids = append(s.ids, str)
				case "phone":
					s.phones = append(s.phones, str)
				}
			}
			s.collect(vv)
		}
	case []any:
		for _, vv := range x {
			s.collect(vv)
		}
	case []map[string]any:
		for _, vv := range x {
			s.collect(vv)
		}
	}
}

func (s *piiSession) pushFixtures() {
	g := gen.New(7)
	var cs []syncproto.Change
	for i := range 12 {
		p := g.Person(piiVillage)
		s.collect(p)
		id := uuid.Must(uuid.NewV7()).String()
		s.persons = append(s.persons, id)
		cs = append(cs, change(records.Person, id, p))
		cs = append(cs, change(records.Visit, uuid.Must(uuid.NewV7()).String(), g.Visit(id, time.Now().AddDate(0, 0, -40))))
		if i < 4 {
			a := g.Application(id, p)
			s.collect(a)
			cs = append(cs, change(records.Application, uuid.Must(uuid.NewV7()).String(), a))
		}
	}
	if code := s.push(cs, false); code != 200 {
		s.t.Fatalf("push: %d", code)
	}
	sort.Strings(s.names)
}

// stationMistakes: what a station with bugs, a cadre's typing or a
// tampered link sends.
func (s *piiSession) stationMistakes() {
	name, idn, phone := s.names[0], s.ids[0], s.phones[0]
	bad := []syncproto.Change{
		change(records.Person, uuid.Must(uuid.NewV7()).String(), map[string]any{"name": name, "id_number": idn + "1", "phone": "电话" + phone + "转" + name}),
		change(records.Person, s.persons[1], map[string]any{"id_number": name + phone}),
		change(records.Kind("pet"), uuid.Must(uuid.NewV7()).String(), map[string]any{"name": name, "owner_phone": phone}),
		change(records.Visit, uuid.Must(uuid.NewV7()).String(), map[string]any{"person_id": name, "notes": idn}),
	}
	if code := s.push(bad, false); code != 200 {
		s.t.Fatalf("push of bad changes: %d", code)
	}
	if code := s.push([]syncproto.Change{change(records.Person, s.persons[2], map[string]any{"name": name})}, true); code != 401 {
		s.t.Errorf("tampered push: %d", code)
	}
	h := http.Header{}
	h.Set(syncproto.HeaderVersion, strconv.Itoa(syncproto.Version))
	garbage := []byte(name + idn + phone)
	h.Set("Authorization", syncproto.SignRequest(s.key, s.id, http.MethodPost, "/v1/push", time.Now(), garbage))
	h.Set(syncproto.HeaderContentSHA256, syncproto.BodyHash(garbage))
	if code, _ := s.do(nil, http.MethodPost, s.base+"/v1/push", h, garbage); code != 400 {
		s.t.Errorf("garbage push: %d", code)
	}
	// A pull reporting the station's last error, in the cadre's words.
	pq := "/v1/pull?after=0&pending=2&agent=" + url.QueryEscape("test "+name) + "&last_error=" + url.QueryEscape("保存"+name+"（"+idn+"，"+phone+"）失败")
	h = http.Header{}
	h.Set(syncproto.HeaderVersion, strconv.Itoa(syncproto.Version))
	h.Set("Authorization", syncproto.SignRequest(s.key, s.id, http.MethodGet, pq, time.Now(), nil))
	if code, _ := s.get(nil, s.base+pq, h); code != 200 {
		s.t.Errorf("pull: %d", code)
	}
	// Unsigned, and signed by nobody.
	s.get(nil, s.base+"/v1/pull?last_error="+url.QueryEscape(phone), http.Header{syncproto.HeaderVersion: {"1"}, "Authorization": {"Station " + name}})
	s.do(nil, http.MethodPost, s.base+"/v1/enroll", nil, []byte(`{"v":1,"code":"`+idn+`","hostname":"`+name+`"}`))
}

func (s *piiSession) staff() {
	jar, _ := cookiejar.New(nil)
	s.staffC = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form := func(v url.Values) []byte { return []byte(v.Encode()) }
	fh := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	name, idn, phone := s.names[1], s.ids[1], s.phones[1]
	// Log-ins that fail: a phone number or a name typed as the user name,
	// an ID number as the password.
	for _, u := range []string{phone, name, "admin"} {
		s.do(s.staffC, http.MethodPost, s.base+"/login", fh, form(url.Values{"username": {u}, "password": {idn}}))
	}
	if code, _ := s.do(s.staffC, http.MethodPost, s.base+"/login", fh, form(url.Values{"username": {"admin"}, "password": {piiPass}})); code != http.StatusSeeOther {
		s.t.Fatalf("log in: %d", code)
	}
	pages := []string{"/", "/stations", "/records/person", "/records/visit", "/records/application", "/applications", "/followup", "/conflicts", "/reports", "/audit", "/users", "/settings",
		"/records/person?q=" + url.QueryEscape(name), "/records/person?q=" + idn, "/records/person?q=" + phone, "/records/visit?q=" + url.QueryEscape(name),
		"/api/records/person?q=" + url.QueryEscape(name), "/records/person/" + s.persons[1], "/api/records/person/" + s.persons[1],
		"/records/person/" + url.PathEscape(name), "/records/person/" + idn, "/records/" + url.PathEscape(name), "/export/person.csv", "/export/person.xlsx",
		"/export/person.csv?q=" + url.QueryEscape(name), "/export/" + phone + ".csv", "/audit?user=" + url.QueryEscape(name), "/reports/" + url.PathEscape(name)}
	for _, p := range pages {
		s.get(s.staffC, s.base+p, nil)
	}
	// Edits that fail: a phone number too short, an ID number with a bad
	// check digit, a name in a field that takes a date.
	for _, v := range []url.Values{
		{"phone": {phone[:10]}, "name": {name}},
		{"id_number": {idn[:17] + "0"}},
		{"birth_date": {name + phone}},
	} {
		s.do(s.staffC, http.MethodPost, s.base+"/records/person/"+s.persons[1], fh, form(v))
	}
	s.do(s.staffC, http.MethodPost, s.base+"/applications/decide", fh, form(url.Values{"id": {name}, "op": {"approve"}, "comment": {phone}}))
	s.do(s.staffC, http.MethodPost, s.base+"/users", fh, form(url.Values{"username": {phone}, "name": {name}, "password": {"x"}, "role": {"county"}}))
}

func (s *piiSession) visitors() {
	name, phone := s.names[2], s.phones[2]
	for _, p := range []string{"/public/", "/public/v/" + piiVillage, "/public/d/" + url.PathEscape(name), "/public/v/" + phone, "/public/?q=" + url.QueryEscape(name),
		"/" + url.PathEscape(name), "/healthz", "/readyz", "/metrics"} {
		s.get(nil, s.base+p, http.Header{"X-Request-ID": {name + phone}, "X-Forwarded-For": {phone}, "User-Agent": {name}})
	}
}
