package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"stationsync/internal/blobstore"
)

// What staff see of the attachments: which files a record names, and a
// file served only within the township scope of a record that names it.

// FileInfo is a file the county holds.
type FileInfo struct {
	Hash       string
	Size       int64
	Type       string // image/jpeg, image/png or application/pdf
	Station    string // who sent it first
	ReceivedAt time.Time
}

// Files returns, of hashes, those that arrived (a record page shows the
// others as 附件上传中). It says nothing of who may see them.
func (s *CountyStore) Files(ctx context.Context, hashes []string) (map[string]FileInfo, error) {
	out := map[string]FileInfo{}
	if len(hashes) == 0 {
		return out, nil
	}
	j, _ := json.Marshal(hashes)
	rows, err := s.db.R.QueryContext(ctx, `SELECT hash, size, type, station, received_at FROM files WHERE hash IN (`+s.db.jsonValues()+`)`, string(j))
	if err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var fi FileInfo
		var at int64
		if err := rows.Scan(&fi.Hash, &fi.Size, &fi.Type, &fi.Station, &at); err != nil {
			return nil, fmt.Errorf("files: %w", err)
		}
		fi.ReceivedAt = time.UnixMilli(at)
		out[fi.Hash] = fi
	}
	return out, rows.Err()
}

// FileInScope returns the file if it arrived and a record of a village
// under scope (a village-code prefix, User.Scope; "" for the whole county)
// names it; ErrNotFound otherwise, whichever of the two it is, so that a
// township's staff learn nothing of other townships' files.
func (s *CountyStore) FileInScope(ctx context.Context, hash, scope string) (FileInfo, error) {
	if !blobstore.ValidHash(hash) || strings.Trim(scope, "0123456789") != "" {
		return FileInfo{}, ErrNotFound
	}
	var fi FileInfo
	var at int64
	err := s.db.R.QueryRowContext(ctx, `SELECT hash, size, type, station, received_at FROM files f WHERE hash = ?1
		AND EXISTS (SELECT 1 FROM record_files r WHERE r.hash = f.hash AND substr(r.village, 1, length(?2)) = ?2)`, hash, scope).
		Scan(&fi.Hash, &fi.Size, &fi.Type, &fi.Station, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return FileInfo{}, ErrNotFound
	}
	if err != nil {
		return FileInfo{}, fmt.Errorf("file %s: %w", hash, err)
	}
	fi.ReceivedAt = time.UnixMilli(at)
	return fi, nil
}

// FilesDir is where the county keeps its files unless FileConfig.Dir
// says otherwise: "files" beside the database (as FileConfig's default).
// The staff pages read from here.
func (s *CountyStore) FilesDir() string { return filepath.Join(s.db.Dir, "files") }

// OpenFile opens a file of the county's store in dir, checked against its
// name as it is read (blobstore.Reader): the caller decides first who may
// see it (FileInScope, PublicFile).
func OpenFile(dir, hash string) (*blobstore.Reader, error) {
	cf, err := openCountyFiles(dir)
	if err != nil {
		return nil, err
	}
	return cf.main.Open(hash)
}

// ServeFile writes a file to a staff member whose scope covers a record
// naming it (FileInScope); anything else is 404. A file never changes
// under its name, so the browser may keep it.
func (s *Server) ServeFile(w http.ResponseWriter, r *http.Request, scope, hash string) {
	st, ok := s.Store.(*CountyStore)
	cfg := s.Files.withDefaults(s)
	if !ok || cfg.Dir == "" {
		http.NotFound(w, r)
		return
	}
	fi, err := st.FileInScope(r.Context(), hash, scope)
	if errors.Is(err, ErrNotFound) {
		http.Error(w, "没有这个附件，或您无权查看", http.StatusNotFound)
		return
	}
	if err != nil {
		s.Logger.Error("serve file", "hash", hash, "err", err)
		http.Error(w, "县级服务器内部错误，请稍后再试", http.StatusInternalServerError)
		return
	}
	WriteFile(w, r, cfg.Dir, fi, "private, max-age=31536000, immutable", s.Logger)
}

// fileTypes are the types the county takes (photo.Sniff) and their
// extension in the name a saved file gets.
var fileTypes = map[string]string{"image/jpeg": ".jpg", "image/png": ".png", "application/pdf": ".pdf"}

// WriteFile answers with file fi of the store in dir, which the caller
// has decided the requester may see, with cacheControl. The bytes are
// checked against their name as they go out: a file damaged on the
// county's disk ends the answer early instead of showing a wrong photo.
//
// Nothing in it runs on the county's origin: the type is the one read
// from the file's first bytes and never sniffed again (nosniff), anything
// but JPEG, PNG or PDF is a download, and every answer carries
// "Content-Security-Policy: sandbox", so a PDF opens in the browser's
// viewer as a document of no origin, with no script of its own and no
// access to the staff's session.
func WriteFile(w http.ResponseWriter, r *http.Request, dir string, fi FileInfo, cacheControl string, logger *slog.Logger) {
	etag := `"` + fi.Hash + `"`
	h := w.Header()
	h.Set("Cache-Control", cacheControl)
	h.Set("ETag", etag)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox")
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	br, err := OpenFile(dir, fi.Hash)
	if err != nil {
		logger.Error("serve file: listed but not readable", "hash", fi.Hash, "err", err)
		http.Error(w, "附件文件缺失，请联系管理员", http.StatusInternalServerError)
		return
	}
	defer br.Close()
	disp, typ := "inline", fi.Type
	ext, ok := fileTypes[typ]
	if !ok {
		disp, typ, ext = "attachment", "application/octet-stream", ""
	}
	// A name made of the hash alone: nothing a station sent reaches the
	// header.
	h.Set("Content-Disposition", mime.FormatMediaType(disp, map[string]string{"filename": "附件-" + fi.Hash[:12] + ext}))
	h.Set("Content-Type", typ)
	h.Set("Content-Length", strconv.FormatInt(br.Size(), 10))
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, br); err != nil && r.Context().Err() == nil {
		logger.Error("serve file", "hash", fi.Hash, "err", err)
	}
}
