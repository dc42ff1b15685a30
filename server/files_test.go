package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/google/uuid"

	"stationsync/internal/blobstore"
	"stationsync/internal/gen"
	"stationsync/internal/hlc"
	"stationsync/internal/records"
	"stationsync/internal/sqlitedb"
	"stationsync/syncproto"
)

// fileCounty is a county store with the attachment calls served on
// 127.0.0.1, and an enrolled station.
type fileCounty struct {
	store *CountyStore
	srv   *Server
	url   string
	k     keyed
	dir   string // the files
}

func newFileCounty(t *testing.T, tune func(*Server)) *fileCounty {
	t.Helper()
	store := openTestStore(t)
	srv := New(store, quietLog)
	if tune != nil {
		tune(srv)
	}
	mux := http.NewServeMux()
	srv.fileRoutes(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return &fileCounty{store: store, srv: srv, url: hs.URL, k: enrollKeyed(t, store), dir: filepath.Join(store.db.Dir, "files")}
}

// client is the station's client for the calls, without retries.
func (fc *fileCounty) client(k keyed) *syncproto.Client {
	c := syncproto.NewClient(fc.url)
	c.Station, c.Key, c.RetryMax, c.Logger = k.st.ID, k.key, 0, quietLog
	return c
}

// name makes a visit of k's village that names the files.
func (fc *fileCounty) name(t *testing.T, k keyed, hashes ...string) {
	t.Helper()
	g := gen.New(rand.Int64())
	now := time.Now()
	pid, vid := uuid.Must(uuid.NewV7()).String(), uuid.Must(uuid.NewV7()).String()
	visit := fieldsOf(g.Visit(pid, now))
	visit["photos"], _ = json.Marshal(hashes)
	var hwm uint64
	if epochs, err := fc.store.db.R.Query(`SELECT coalesce(max(hwm), 0) FROM station_epochs WHERE station = ? AND epoch = 'e'`, k.st.ID); err == nil {
		for epochs.Next() {
			epochs.Scan(&hwm)
		}
		epochs.Close()
	}
	b := &syncproto.Batch{Version: syncproto.Version, Station: k.st.ID, Epoch: "e", Village: k.st.Village, Changes: []syncproto.Change{
		{Seq: hwm + 1, HLC: uint64(hlc.Make(now.UnixMilli(), 0)), Kind: string(records.Person), ID: pid, Op: string(records.OpUpsert), Fields: fieldsOf(g.Person(k.st.Village))},
		{Seq: hwm + 2, HLC: uint64(hlc.Make(now.UnixMilli(), 1)), Kind: string(records.Visit), ID: vid, Op: string(records.OpUpsert), Fields: visit},
	}}
	res, err := fc.store.Push(context.Background(), k.st, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Results {
		if r.Status != syncproto.Applied {
			t.Fatalf("visit naming the files: %+v", r)
		}
	}
}

// empty fails unless nothing of the file is stored: no blob, no upload
// begun, no row.
func (fc *fileCounty) empty(t *testing.T, what, hash string) {
	t.Helper()
	var found []string
	filepath.WalkDir(fc.dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && bytes.Contains([]byte(filepath.Base(p)), []byte(hash)) {
			found = append(found, p)
		}
		return nil
	})
	var rows int
	fc.store.db.R.QueryRow(`SELECT count(*) FROM files WHERE hash = ?`, hash).Scan(&rows)
	if len(found) > 0 || rows > 0 {
		t.Fatalf("%s: stored %v, %d rows", what, found, rows)
	}
}

// enrollIn enrolls a station of village.
func enrollIn(t *testing.T, s Store, village string) keyed {
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

func hashOf(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

func chinese(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

func pdfOf(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := []byte("%PDF-1.4\n")
	for len(b) < n-8 {
		b = append(b, byte(r.IntN(256)))
	}
	return append(b, "\n%%EOF\n"...)
}

// rawChunk sends a chunk by hand: signed by key for station id over
// signedBody's hash, with body as the bytes.
func rawChunk(t *testing.T, url, station string, key ed25519.PrivateKey, hash string, size, offset int64, signedBody, body []byte) (*http.Response, syncproto.ErrorBody) {
	t.Helper()
	pq := syncproto.PathFiles + hash + "?offset=" + strconv.FormatInt(offset, 10) + "&size=" + strconv.FormatInt(size, 10)
	req, _ := http.NewRequest(http.MethodPut, url+pq, bytes.NewReader(body))
	req.Header.Set(syncproto.HeaderVersion, strconv.Itoa(syncproto.Version))
	req.Header.Set("Authorization", syncproto.SignRequest(key, station, http.MethodPut, pq, time.Now(), signedBody))
	req.Header.Set(syncproto.HeaderContentSHA256, syncproto.BodyHash(signedBody))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var eb syncproto.ErrorBody
	json.Unmarshal(raw, &eb)
	return resp, eb
}

// Refused, each with its code and a Chinese message, and nothing of the
// file kept: a chunk signed by a key that is not the station's, a chunk
// that is not the bytes whose hash was signed, a file over the size limit,
// a file that is not JPEG, PNG or PDF, a file no record of the village
// names.
func TestFileRefusals(t *testing.T) {
	fc := newFileCounty(t, func(s *Server) { s.Files.MaxSize = 1 << 20 })
	k := fc.k
	scan := pdfOf(100<<10, 1)
	hash := hashOf(scan)
	gif := append([]byte("GIF89a"), scan[6:]...)
	gifHash := hashOf(gif)
	big := pdfOf(1<<20+100, 2)
	bigHash := hashOf(big)
	fc.name(t, k, hash, gifHash, bigHash)
	_, stranger, _ := ed25519.GenerateKey(nil)
	other := enrollIn(t, fc.store, "340123102203") // a station of another village

	cases := []struct {
		name       string
		station    string
		key        ed25519.PrivateKey
		hash       string
		size       int64
		signed     []byte
		body       []byte
		status     int
		code, file string
	}{
		{"forged station", k.st.ID, stranger, hash, int64(len(scan)), scan[:64<<10], scan[:64<<10], 401, syncproto.CodeBadSignature, hash},
		{"unknown station", "st_0000000000000000", stranger, hash, int64(len(scan)), scan[:64<<10], scan[:64<<10], 401, syncproto.CodeUnknownStn, hash},
		{"wrong chunk hash", k.st.ID, k.key, hash, int64(len(scan)), scan[:64<<10], append([]byte("x"), scan[1:64<<10]...), 400, syncproto.CodeChunkHash, hash},
		{"over the size limit", k.st.ID, k.key, bigHash, int64(len(big)), big[:64<<10], big[:64<<10], 413, syncproto.CodeFileTooLarge, bigHash},
		{"wrong type", k.st.ID, k.key, gifHash, int64(len(gif)), gif[:64<<10], gif[:64<<10], 415, syncproto.CodeFileType, gifHash},
		{"no record of the village names it", other.st.ID, other.key, hash, int64(len(scan)), scan[:64<<10], scan[:64<<10], 409, syncproto.CodeFileUnreferenced, hash},
		{"chunk past the end", k.st.ID, k.key, hash, 1000, scan[:64<<10], scan[:64<<10], 413, syncproto.CodeTooLarge, hash},
	}
	for _, c := range cases {
		resp, eb := rawChunk(t, fc.url, c.station, c.key, c.hash, c.size, 0, c.signed, c.body)
		if resp.StatusCode != c.status || eb.Error.Code != c.code || !chinese(eb.Error.Message) {
			t.Errorf("%s: %d %q %q; want %d %s with a Chinese message", c.name, resp.StatusCode, eb.Error.Code, eb.Error.Message, c.status, c.code)
		}
		fc.empty(t, c.name, c.file)
	}
	// The status call says the same before any byte is sent.
	st, err := fc.client(k).FileStatus(context.Background(), []syncproto.FileRef{{Hash: bigHash, Size: int64(len(big))}, {Hash: hash, Size: int64(len(scan))}})
	if err != nil {
		t.Fatal(err)
	}
	if f := st.Files[0]; f.State != syncproto.FileRefused || f.Code != syncproto.CodeFileTooLarge || !chinese(f.Message) {
		t.Errorf("status of an oversize file: %+v", f)
	}
	if f := st.Files[1]; f.State != syncproto.FileSend || f.Offset != 0 {
		t.Errorf("status of a file to send: %+v", f)
	}
	st, err = fc.client(other).FileStatus(context.Background(), []syncproto.FileRef{{Hash: hash, Size: int64(len(scan))}})
	if err != nil || st.Files[0].State != syncproto.FileUnreferenced {
		t.Errorf("another station asking about a file its records do not name: %+v %v", st, err)
	}
	// After all that, the right station sends the right bytes.
	sendAll(t, fc.client(k), hash, scan, 64<<10)
	fc.stored(t, hash, scan)
}

// sendAll sends data in chunks from where the county stands.
func sendAll(t *testing.T, c *syncproto.Client, hash string, data []byte, chunk int) {
	t.Helper()
	ctx := context.Background()
	st, err := c.FileStatus(ctx, []syncproto.FileRef{{Hash: hash, Size: int64(len(data))}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Files[0].State == syncproto.FileHave {
		return
	}
	off := st.Files[0].Offset
	for range 1000 {
		end := min(off+int64(chunk), int64(len(data)))
		cr, err := c.PutChunk(ctx, hash, int64(len(data)), off, data[off:end])
		if o := syncproto.FileOffset(err); o >= 0 {
			off = o
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if cr.Complete {
			return
		}
		off = cr.Offset
	}
	t.Fatal("upload did not complete")
}

// stored fails unless the county holds exactly data under hash.
func (fc *fileCounty) stored(t *testing.T, hash string, data []byte) {
	t.Helper()
	bs, err := blobstore.Open(fc.dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := bs.Open(hash)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("county holds %d bytes (%v), want %d", len(got), err, len(data))
	}
	fs, err := fc.store.Files(context.Background(), []string{hash})
	if err != nil || fs[hash].Size != int64(len(data)) || fs[hash].Type != "application/pdf" || fs[hash].Station == "" {
		t.Fatalf("files row: %+v %v", fs, err)
	}
}

// Every chunk of a file fired at once, three times over, with no limit on
// a station's requests: the upload takes each chunk in order or answers
// where it stands, and never ends with other bytes than the file's.
func TestChunksAtOnce(t *testing.T) {
	fc := newFileCounty(t, func(s *Server) { s.MaxPerStation = 0; s.Files.Slots = 64 })
	data := pdfOf(1<<20, 3)
	hash := hashOf(data)
	fc.name(t, fc.k, hash)
	const chunk = 64 << 10
	c := fc.client(fc.k)
	var wg sync.WaitGroup
	var mu sync.Mutex
	answers := map[string]int{}
	for range 3 {
		for off := 0; off < len(data); off += chunk {
			wg.Go(func() {
				_, err := c.PutChunk(context.Background(), hash, int64(len(data)), int64(off), data[off:min(off+chunk, len(data))])
				what := "ok"
				var e *syncproto.Error
				if errors.As(err, &e) {
					what = e.Code
				} else if err != nil {
					what = err.Error()
				}
				mu.Lock()
				answers[what]++
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	t.Logf("48 chunks at once: %v", answers)
	for what := range answers {
		if what != "ok" && what != syncproto.CodeOffset {
			t.Fatalf("answers %v: only ok and offset allowed", answers)
		}
	}
	sendAll(t, c, hash, data, chunk)
	fc.stored(t, hash, data)
	// And once it is whole, a burst of its last chunk changes nothing.
	for range 20 {
		wg.Go(func() {
			cr, err := c.PutChunk(context.Background(), hash, int64(len(data)), int64(len(data)-chunk), data[len(data)-chunk:])
			if err != nil || !cr.Complete {
				t.Errorf("a chunk of a whole file: %+v %v", cr, err)
			}
		})
	}
	wg.Wait()
	fc.stored(t, hash, data)
}

// Staff see a file when their scope covers a record naming it; to anyone
// else it does not exist. The bytes served are the file's.
func TestServeFileByScope(t *testing.T) {
	fc := newFileCounty(t, nil)
	data := pdfOf(200<<10, 4)
	hash := hashOf(data)
	fc.name(t, fc.k, hash) // village 340123101201
	sendAll(t, fc.client(fc.k), hash, data, 64<<10)
	for _, c := range []struct {
		scope, hash string
		status      int
	}{
		{"", hash, 200}, {"340123", hash, 200}, {"340123101", hash, 200},
		{"340123102", hash, 404}, {"340123101", hashOf([]byte("x")), 404}, {"", "../../etc/passwd", 404}, {"34012310%", hash, 404},
	} {
		w := httptest.NewRecorder()
		fc.srv.ServeFile(w, httptest.NewRequest(http.MethodGet, "/files/x", nil), c.scope, c.hash)
		if w.Code != c.status {
			t.Errorf("scope %q, hash %.16q: %d, want %d", c.scope, c.hash, w.Code, c.status)
			continue
		}
		if c.status == 200 && (!bytes.Equal(w.Body.Bytes(), data) || w.Header().Get("Content-Type") != "application/pdf" || w.Header().Get("X-Content-Type-Options") != "nosniff") {
			t.Errorf("scope %q: %d bytes, type %q", c.scope, w.Body.Len(), w.Header().Get("Content-Type"))
		}
		if c.status == 404 && bytes.Contains(w.Body.Bytes(), []byte(hash)) {
			t.Errorf("scope %q: the refusal names the file", c.scope)
		}
	}
}

// A county upgraded to attachments knows which of its records name which
// file, and keeps knowing as records change.
func TestRecordFilesFromRecords(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "county.db")
	db, err := sqlitedb.Open(ctx, path, sqlitedb.MigrationsThrough(mustSub(migrationFS, "migrations"), "0010_disclosure_public_numbers.sql"))
	if err != nil {
		t.Fatal(err)
	}
	h1, h2 := hashOf([]byte("1")), hashOf([]byte("2"))
	_, err = db.W.Exec(`INSERT INTO visits (id, village, person_id, photos, versions, origins, base_hlc, rev, created_at, created_origin, updated_at, received_at) VALUES
		('v1', '` + village + `', 'p1', '["` + h1 + `","` + h2 + `"]', '{}', '{}', 1, 1, 1, 'st_a', 1, 1),
		('v2', '` + village + `', 'p1', 'not json', '{}', '{}', 1, 1, 1, 'st_a', 1, 1),
		('v3', '` + village + `', 'p1', '{"a":"` + h1 + `"}', '{}', '{}', 1, 1, 1, 'st_a', 1, 1)`)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenSQLite(ctx, path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	names := func() string {
		var out string
		s.db.R.QueryRow(`SELECT coalesce(group_concat(record_id || ':' || substr(hash, 1, 4), ' '), '') FROM (SELECT * FROM record_files ORDER BY record_id, hash)`).Scan(&out)
		return out
	}
	if got, want := names(), "v1:"+h1[:4]+" v1:"+h2[:4]; got != want {
		t.Fatalf("after the upgrade: %q, want %q", got, want)
	}
	if _, err := s.db.W.Exec(`UPDATE visits SET photos = '["` + h2 + `"]' WHERE id = 'v1'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.W.Exec(`UPDATE visits SET photos = 'still not json' WHERE id = 'v2'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.W.Exec(`INSERT INTO disclosures (id, village, attachments, versions, origins, base_hlc, rev, created_at, created_origin, updated_at, received_at) VALUES ('d1', '340123102203', '["` + h1 + `"]', '{}', '{}', 1, 1, 1, 'st_b', 1, 1)`); err != nil {
		t.Fatal(err)
	}
	if got, want := names(), "d1:"+h1[:4]+" v1:"+h2[:4]; got != want {
		t.Fatalf("after edits: %q, want %q", got, want)
	}
}
