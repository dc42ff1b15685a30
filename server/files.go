package server

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"stationsync/internal/blobstore"
	"stationsync/internal/photo"
	"stationsync/syncproto"
)

// Attachments (PROTOCOL.md §15): the county's end of the files stations
// send after their records — photos of visits, scans of an application's
// documents, a disclosure's attachments.
//
// Files are kept content-addressed in a blob store beside the database
// (<dir>/objects/…). A station's unfinished uploads live in a blob store of
// its own (<dir>/stations/<id>/), so that an upload is keyed by station and
// hash: another station sending the same hash, or garbage under it, cannot
// reset or spoil this station's progress. A finished upload is checked
// against its name and only then copied into the shared store.
//
// Chunks take slots of their own (FileConfig.Slots), never the records'
// sync slots: a county whose stations all send photos after a week of rain
// still takes every station's records at once.

// FileConfig is the county's attachment settings. Zero values take the
// defaults written beside each field.
type FileConfig struct {
	// Dir holds the files; default "files" beside the SQLite database. A
	// store other than SQLite must set it, or the county takes no files.
	Dir string
	// MaxSize is the largest file taken; default
	// syncproto.DefaultMaxFileSize (20 MiB).
	MaxSize int64
	// Slots bounds the chunks being received at once, county-wide;
	// default 8.
	Slots int
	// PruneAfter drops a station's unfinished upload untouched this long
	// (files_prune.go); default 30 days, negative never. PruneEvery is
	// how often the county looks; default 6 h.
	PruneAfter, PruneEvery time.Duration
}

// defaultFileSlots: a chunk is 64 KiB and takes 8–16 s on 2G, so 8
// stations uploading at once keep a county's link busy without their
// goroutines and buffers (1 MiB each at most) adding up.
const defaultFileSlots = 8

func (c FileConfig) withDefaults(s *Server) FileConfig {
	if c.Dir == "" {
		if st, ok := s.Store.(*CountyStore); ok {
			c.Dir = filepath.Join(st.db.Dir, "files")
		}
	}
	if c.MaxSize <= 0 {
		c.MaxSize = syncproto.DefaultMaxFileSize
	}
	if c.Slots <= 0 {
		c.Slots = defaultFileSlots
	}
	if c.PruneAfter == 0 {
		c.PruneAfter = defaultPruneAfter
	}
	if c.PruneEvery <= 0 {
		c.PruneEvery = defaultPruneEvery
	}
	return c
}

// countyFiles is the blob stores in one folder. One process must own a
// store's uploads (blobstore), and a test or a restart may build several
// handlers over one county: the stores are shared by folder.
type countyFiles struct {
	// pruning is set while a server's prune loop runs over this folder:
	// one loop however many handlers are built over it.
	pruning  atomic.Bool
	main     *blobstore.Store
	mu       sync.Mutex
	stations map[string]*blobstore.Store
	dir      string
}

var fileStores struct {
	sync.Mutex
	m map[string]*countyFiles
}

func openCountyFiles(dir string) (*countyFiles, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	fileStores.Lock()
	defer fileStores.Unlock()
	if cf := fileStores.m[abs]; cf != nil {
		return cf, nil
	}
	main, err := blobstore.Open(abs)
	if err != nil {
		return nil, err
	}
	cf := &countyFiles{main: main, stations: map[string]*blobstore.Store{}, dir: abs}
	if fileStores.m == nil {
		fileStores.m = map[string]*countyFiles{}
	}
	fileStores.m[abs] = cf
	return cf, nil
}

// stationIDRe is what the county makes station ids of (stations.go); one
// becomes a folder name only if it looks like that.
var stationIDRe = regexp.MustCompile(`^st_[0-9a-f]{16}$`)

// station is the blob store of one station's uploads.
func (cf *countyFiles) station(id string) (*blobstore.Store, error) {
	if !stationIDRe.MatchString(id) {
		return nil, fmt.Errorf("station id %.40q is not a folder name", id)
	}
	cf.mu.Lock()
	defer cf.mu.Unlock()
	if st := cf.stations[id]; st != nil {
		return st, nil
	}
	st, err := blobstore.Open(filepath.Join(cf.dir, "stations", id))
	if err != nil {
		return nil, err
	}
	cf.stations[id] = st
	return st, nil
}

// finish moves a station's finished upload into the shared store: copied
// through a reader that checks the content against its name, then removed
// from the station's. It is safe to repeat and to run twice at once. It
// returns blobstore.ErrNotFound when neither store holds the file.
func (cf *countyFiles) finish(ctx context.Context, st *blobstore.Store, hash string, limit int64) error {
	if ok, err := cf.main.Has(hash); err != nil {
		return err
	} else if ok {
		return st.Remove(hash)
	}
	r, err := st.Open(hash)
	if errors.Is(err, blobstore.ErrNotFound) {
		// Moved by a request beside this one.
		if ok, herr := cf.main.Has(hash); herr == nil && ok {
			return nil
		}
		return err
	}
	if err != nil {
		return err
	}
	got, _, err := cf.main.Put(ctx, r, limit)
	r.Close()
	if err != nil {
		return err
	}
	if got != hash {
		return fmt.Errorf("file %s stored as %s: %w", hash, got, blobstore.ErrCorrupt)
	}
	return st.Remove(hash)
}

// fileService answers the attachment calls of one handler.
type fileService struct {
	s     *Server
	cfg   FileConfig
	files *countyFiles
	db    *CountyStore
	slots chan struct{}
}

// fileRoutes adds the attachment calls to mux. A county whose files have
// nowhere to go answers them 404, as a county of an older release does, and
// its stations keep their files until it does.
func (s *Server) fileRoutes(mux *http.ServeMux) {
	cfg := s.Files.withDefaults(s)
	st, ok := s.Store.(*CountyStore)
	if cfg.Dir == "" || !ok {
		return
	}
	cf, err := openCountyFiles(cfg.Dir)
	if err != nil {
		s.Logger.Error("attachments off: the file store cannot be opened", "dir", cfg.Dir, "err", err)
		return
	}
	f := &fileService{s: s, cfg: cfg, files: cf, db: st, slots: make(chan struct{}, cfg.Slots)}
	mux.HandleFunc("POST "+syncproto.PathFileStatus, f.handleStatus)
	mux.HandleFunc("PUT "+syncproto.PathFiles+"{hash}", f.handleChunk)
	mux.HandleFunc("GET "+syncproto.PathFiles+"{hash}", f.handleFetch) // files_fetch.go
	if cfg.PruneAfter > 0 && cf.pruning.CompareAndSwap(false, true) {
		err := s.Go("upload pruning", func(ctx context.Context) error {
			defer cf.pruning.Store(false)
			return f.pruneLoop(ctx)
		})
		if err != nil {
			cf.pruning.Store(false)
		}
	}
}

// admit is the gate of gate.go for the attachment calls: everything is
// checked from the headers — version, signature over the body's hash (which
// every attachment call must send: there are no older builds to allow),
// its time, the station's requests in progress (counted with its pushes and
// pulls) — before a file slot is taken or a byte of the body read.
func (f *fileService) admit(w http.ResponseWriter, r *http.Request) *admission {
	return f.s.admitTo(w, r, door{pool: f.slots, needHash: true, busy: "县级服务器正在接收其他站点的附件，稍后会自动重试"})
}

// readBody reads a body of at most limit bytes that must have the signed
// hash. On failure it has answered.
func (f *fileService) readBody(w http.ResponseWriter, r *http.Request, a *admission, limit int64, tooLarge string) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, syncproto.CodeTooLarge, tooLarge, 0)
			return nil, false
		}
		writeError(w, http.StatusBadRequest, syncproto.CodeBadRequest, "上传中断，稍后会自动重试", 0)
		return nil, false
	}
	if syncproto.BodyHash(body) != a.bodyHash {
		f.s.Logger.Warn("file request body differs from its signed hash", "path", r.URL.Path, "station", a.st.ID, "remote", r.RemoteAddr)
		writeError(w, http.StatusBadRequest, syncproto.CodeChunkHash, "附件数据校验失败（传输中损坏），稍后会自动重新发送", 0)
		return nil, false
	}
	return body, true
}

func (f *fileService) tooLargeMessage(size int64) string {
	return fmt.Sprintf("附件太大（%s），县里只接收不超过 %s 的文件；请缩小或分成几份后重新添加", mib(size), mib(f.cfg.MaxSize))
}

func mib(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MB", n>>20)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
}

// referenced reports whether a record of village names the file.
func (f *fileService) referenced(ctx context.Context, hash, village string) (bool, error) {
	var ok bool
	err := f.db.db.R.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM record_files WHERE village = ? AND hash = ?)`, village, hash).Scan(&ok)
	return ok, err
}

// arrived records a file the shared store holds; repeating it changes
// nothing, so a crash between the store and this row is mended by the next
// request that finds the file.
func (f *fileService) arrived(ctx context.Context, hash string, size int64, station string) error {
	var known bool
	if err := f.db.db.R.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM files WHERE hash = ?)`, hash).Scan(&known); err != nil || known {
		return err
	}
	kind := ""
	if r, err := f.files.main.Open(hash); err == nil {
		head := make([]byte, 16)
		n, _ := io.ReadFull(r, head)
		r.Close()
		kind = photo.Sniff(head[:n])
	}
	return f.db.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO files (hash, size, type, station, received_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			hash, size, fileMIME[kind], station, f.s.Now().UnixMilli())
		return err
	})
}

// fileMIME are the kinds (photo.Sniff) a county takes, by their type.
var fileMIME = map[string]string{"jpeg": "image/jpeg", "png": "image/png", "pdf": "application/pdf"}

func (f *fileService) handleStatus(w http.ResponseWriter, r *http.Request) {
	a := f.admit(w, r)
	if a == nil {
		return
	}
	defer a.release()
	body, ok := f.readBody(w, r, a, syncproto.MaxFileStatusBody, "附件查询请求过大")
	if !ok {
		return
	}
	var req syncproto.FileStatusRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() {
		writeError(w, http.StatusBadRequest, syncproto.CodeBadRequest, "附件查询请求格式不正确", 0)
		return
	}
	if len(req.Files) > syncproto.MaxFileQuery {
		writeError(w, http.StatusBadRequest, syncproto.CodeBadRequest, fmt.Sprintf("一次最多查询 %d 个附件", syncproto.MaxFileQuery), 0)
		return
	}
	ctx := r.Context()
	res := syncproto.FileStatusResult{Version: syncproto.Version, ServerTime: f.s.Now().UnixMilli(), MaxSize: f.cfg.MaxSize, MaxChunk: syncproto.MaxFileChunk,
		Files: make([]syncproto.FileState, len(req.Files))}
	for i, ref := range req.Files {
		state, err := f.state(ctx, a.st, ref)
		if err != nil {
			f.s.internal(w, r, err)
			return
		}
		res.Files[i] = state
	}
	writeJSON(w, http.StatusOK, res)
}

// state is where one file stands for a station.
func (f *fileService) state(ctx context.Context, st *Station, ref syncproto.FileRef) (syncproto.FileState, error) {
	out := syncproto.FileState{Hash: ref.Hash}
	if !blobstore.ValidHash(ref.Hash) {
		out.State, out.Code, out.Message = syncproto.FileRefused, syncproto.CodeBadRequest, "附件编号无效"
		return out, nil
	}
	if ref.Size <= 0 || ref.Size > f.cfg.MaxSize {
		out.State, out.Code, out.Message = syncproto.FileRefused, syncproto.CodeFileTooLarge, f.tooLargeMessage(ref.Size)
		if ref.Size <= 0 {
			out.Code, out.Message = syncproto.CodeBadRequest, "附件是空的"
		}
		return out, nil
	}
	sst, err := f.files.station(st.ID)
	if err != nil {
		return out, err
	}
	have, err := f.have(ctx, sst, ref, st.ID)
	if err != nil || have {
		out.State = syncproto.FileHave
		return out, err
	}
	if ok, err := f.referenced(ctx, ref.Hash, st.Village); err != nil {
		return out, err
	} else if !ok {
		out.State = syncproto.FileUnreferenced
		return out, nil
	}
	u, err := sst.Begin(ref.Hash, ref.Size)
	if err != nil {
		return out, err
	}
	out.State = syncproto.FileSend
	out.Offset, err = u.Offset()
	if errors.Is(err, blobstore.ErrNoUpload) {
		// Pruned (files_prune.go) since Begin: from 0.
		out.Offset, err = 0, nil
	}
	return out, err
}

// have reports whether the county holds the file, finishing the move of an
// upload a crash left between the station's store and the shared one.
func (f *fileService) have(ctx context.Context, sst *blobstore.Store, ref syncproto.FileRef, station string) (bool, error) {
	if ok, err := f.files.main.Has(ref.Hash); err != nil || ok {
		if ok {
			err = f.arrived(ctx, ref.Hash, ref.Size, station)
		}
		return ok, err
	}
	if ok, err := sst.Has(ref.Hash); err != nil || !ok {
		return false, err
	}
	if err := f.files.finish(ctx, sst, ref.Hash, f.cfg.MaxSize); err != nil {
		if errors.Is(err, blobstore.ErrCorrupt) {
			// The station's copy rotted on the county's disk: it is sent again.
			sst.Remove(ref.Hash)
			return false, nil
		}
		return false, err
	}
	return true, f.arrived(ctx, ref.Hash, ref.Size, station)
}

func (f *fileService) handleChunk(w http.ResponseWriter, r *http.Request) {
	a := f.admit(w, r)
	if a == nil {
		return
	}
	defer a.release()
	// Everything that can refuse the chunk without its bytes does so
	// before they are read; the body is then left unread.
	refuse := func(status int, code, msg string, hwm uint64) {
		if r.ProtoMajor == 1 && r.ContentLength != 0 {
			w.Header().Set("Connection", "close")
		}
		writeError(w, status, code, msg, hwm)
	}
	hash := r.PathValue("hash")
	q := r.URL.Query()
	offset, oerr := strconv.ParseInt(q.Get("offset"), 10, 64)
	size, serr := strconv.ParseInt(q.Get("size"), 10, 64)
	if !blobstore.ValidHash(hash) || oerr != nil || serr != nil || offset < 0 || size <= 0 || offset >= size {
		refuse(http.StatusBadRequest, syncproto.CodeBadRequest, "附件上传请求格式不正确", 0)
		return
	}
	if size > f.cfg.MaxSize {
		f.s.Logger.Info("file refused: too large", "station", a.st.ID, "hash", hash, "size", size)
		refuse(http.StatusRequestEntityTooLarge, syncproto.CodeFileTooLarge, f.tooLargeMessage(size), 0)
		return
	}
	if r.ContentLength > syncproto.MaxFileChunk || r.ContentLength > size-offset {
		refuse(http.StatusRequestEntityTooLarge, syncproto.CodeTooLarge, "附件分块过大", 0)
		return
	}
	ctx := r.Context()
	ref := syncproto.FileRef{Hash: hash, Size: size}
	sst, err := f.files.station(a.st.ID)
	if err != nil {
		f.s.internal(w, r, err)
		return
	}
	answer := func(off int64) {
		writeJSON(w, http.StatusOK, syncproto.ChunkResult{Version: syncproto.Version, Hash: hash, Size: size, Offset: off, Complete: off == size})
	}
	if have, err := f.have(ctx, sst, ref, a.st.ID); err != nil {
		f.s.internal(w, r, err)
		return
	} else if have {
		if r.ProtoMajor == 1 && r.ContentLength != 0 {
			w.Header().Set("Connection", "close")
		}
		answer(size)
		return
	}
	if ok, err := f.referenced(ctx, hash, a.st.Village); err != nil {
		f.s.internal(w, r, err)
		return
	} else if !ok {
		refuse(http.StatusConflict, syncproto.CodeFileUnreferenced, "县里还没有收到引用这个附件的记录，记录上传后会自动再传附件", 0)
		return
	}
	body, ok := f.readBody(w, r, a, min(syncproto.MaxFileChunk, size-offset), "附件分块过大")
	if !ok {
		return
	}
	if len(body) == 0 {
		writeError(w, http.StatusBadRequest, syncproto.CodeBadRequest, "附件分块是空的", 0)
		return
	}
	if offset == 0 {
		if kind := photo.Sniff(body); fileMIME[kind] == "" {
			f.s.Logger.Info("file refused: type", "station", a.st.ID, "hash", hash, "kind", kind)
			writeError(w, http.StatusUnsupportedMediaType, syncproto.CodeFileType, "县里只接收 JPEG、PNG 格式的照片和 PDF 格式的扫描件，这个附件不是这几种格式", 0)
			return
		}
	}
	u, err := sst.Begin(hash, size)
	if errors.Is(err, blobstore.ErrExists) {
		f.complete(w, r, sst, ref, a.st.ID, answer)
		return
	}
	if err != nil {
		f.s.internal(w, r, err)
		return
	}
	err = u.WriteChunk(offset, body, a.bodyHash)
	var oe *blobstore.OffsetError
	switch {
	case errors.As(err, &oe):
		writeError(w, http.StatusConflict, syncproto.CodeOffset, fmt.Sprintf("附件分块位置不对，将从第 %d 字节续传", oe.Offset), uint64(oe.Offset))
		return
	case errors.Is(err, blobstore.ErrExists):
		f.complete(w, r, sst, ref, a.st.ID, answer)
		return
	case errors.Is(err, blobstore.ErrNoUpload):
		// A request beside this one started the upload anew (another size
		// was claimed for the hash): where it stands now is where to go on.
		off := int64(0)
		if u, err := sst.Begin(hash, size); err == nil {
			off, _ = u.Offset()
		}
		writeError(w, http.StatusConflict, syncproto.CodeOffset, fmt.Sprintf("附件分块位置不对，将从第 %d 字节续传", off), uint64(off))
		return
	case err != nil:
		f.s.internal(w, r, err)
		return
	}
	off, err := u.Offset()
	if errors.Is(err, blobstore.ErrExists) {
		f.complete(w, r, sst, ref, a.st.ID, answer)
		return
	}
	if errors.Is(err, blobstore.ErrNoUpload) {
		// Pruned (files_prune.go) right after this chunk: from 0 again.
		writeError(w, http.StatusConflict, syncproto.CodeOffset, "附件分块位置不对，将从第 0 字节续传", 0)
		return
	}
	if err != nil {
		f.s.internal(w, r, err)
		return
	}
	if off < size {
		answer(off)
		return
	}
	err = u.Commit()
	if errors.Is(err, blobstore.ErrCorrupt) {
		f.s.Logger.Warn("file upload did not match its hash; dropped", "station", a.st.ID, "hash", hash, "size", size)
		writeError(w, http.StatusUnprocessableEntity, syncproto.CodeFileCorrupt, "附件内容与其编号不符，将从头重新上传", 0)
		return
	}
	if err != nil && !errors.Is(err, blobstore.ErrNoUpload) {
		f.s.internal(w, r, err)
		return
	}
	f.complete(w, r, sst, ref, a.st.ID, answer)
}

// complete finishes an upload whose blob the station's store holds and
// answers that the file is whole.
func (f *fileService) complete(w http.ResponseWriter, r *http.Request, sst *blobstore.Store, ref syncproto.FileRef, station string, answer func(int64)) {
	ctx := context.WithoutCancel(r.Context())
	if err := f.files.finish(ctx, sst, ref.Hash, f.cfg.MaxSize); err != nil {
		if errors.Is(err, blobstore.ErrNotFound) {
			// The upload was pruned before it was committed: from 0 again.
			writeError(w, http.StatusConflict, syncproto.CodeOffset, "附件分块位置不对，将从第 0 字节续传", 0)
			return
		}
		if errors.Is(err, blobstore.ErrCorrupt) {
			sst.Remove(ref.Hash)
			writeError(w, http.StatusUnprocessableEntity, syncproto.CodeFileCorrupt, "附件内容与其编号不符，将从头重新上传", 0)
			return
		}
		f.s.internal(w, r, err)
		return
	}
	if err := f.arrived(ctx, ref.Hash, ref.Size, station); err != nil {
		f.s.internal(w, r, err)
		return
	}
	f.s.Logger.Debug("file arrived", "station", station, "hash", ref.Hash, "size", ref.Size)
	answer(ref.Size)
}
