package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"stationsync/internal/bytesize"
	"strconv"
	"time"

	"stationsync/internal/blobstore"
	"stationsync/internal/photo"
	"stationsync/internal/records"
	"stationsync/internal/zone"
	"stationsync/server"
)

// The files records name (PROTOCOL.md §15): on the record page a tile per
// file — a thumbnail, a PDF with its size, or 附件上传中 for one the
// station has not sent yet — and the files themselves, to staff within
// their township's scope and to the public only when a disclosure the
// portal shows names them. Whoever may not see a file gets the same 404
// as for a file that does not exist, whatever the spelling of its name.

// thumbEdge is a thumbnail's long side, as at the station: a tile is
// 160×120 CSS pixels, sharp on a 2× phone screen.
const thumbEdge = 320

// fileField is the field of each kind that names its files.
var fileField = map[records.Kind]string{records.Visit: "photos", records.Application: "documents", records.Disclosure: "attachments"}

// isFileField reports whether a field of any kind names files: the pages
// show how many, never the hashes.
func isFileField(name string) bool {
	return name == "photos" || name == "documents" || name == "attachments" || name == decisionField
}

// decisionField names the documents the county attached to its decisions
// on an application (decision_docs.go).
const decisionField = "decision_documents"

// hashesOf returns the valid hashes a record's file field names, once
// each, in order. A value that is not a list of hashes names nothing.
func hashesOf(kind records.Kind, f records.Fields) []string {
	name, ok := fileField[kind]
	if !ok {
		return nil
	}
	return hashesIn(f, name)
}

// hashesIn is hashesOf for the field name.
func hashesIn(f records.Fields, name string) []string {
	var list []string
	json.Unmarshal(f[name], &list)
	var out []string
	seen := map[string]bool{}
	for _, h := range list {
		if blobstore.ValidHash(h) && !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out
}

// fileView is one tile.
type fileView struct {
	Hash    string `json:"hash"`
	Arrived bool   `json:"arrived"`
	Type    string `json:"type,omitempty"`
	Size    int64  `json:"size,omitempty"`
	URL     string `json:"url,omitempty"`
	Thumb   string `json:"thumb,omitempty"` // photos only
	// SizeText is the size as staff read it.
	SizeText string `json:"-"`
	Image    bool   `json:"-"`
}

// filesView is a record's 附件 section.
type filesView struct {
	Label   string // what the field calls them: 照片, 证明材料, 附件
	Files   []fileView
	Waiting int // how many have not arrived
	// Decision: the county's own documents (decision_documents), which
	// never wait for a station.
	Decision bool
}

// fileViews says, of hashes, which arrived and links each under base
// ("/files/" for staff, "/public/f/" for the portal).
func (h *Handler) fileViews(ctx context.Context, hashes []string, base string) ([]fileView, int, error) {
	have, err := h.Store.Files(ctx, hashes)
	if err != nil {
		return nil, 0, err
	}
	out := make([]fileView, 0, len(hashes))
	waiting := 0
	for _, hash := range hashes {
		fv := fileView{Hash: hash}
		if fi, ok := have[hash]; ok {
			fv.Arrived, fv.Type, fv.Size, fv.SizeText = true, fi.Type, fi.Size, bytesize.Text(fi.Size)
			fv.URL = base + hash
			if isImage(fi.Type) {
				fv.Image, fv.Thumb = true, base+hash+"/thumb"
			}
		} else {
			waiting++
		}
		out = append(out, fv)
	}
	return out, waiting, nil
}

// recordFiles is the 附件 section of a record of kind, nil for a kind
// that names no files.
func (h *Handler) recordFiles(ctx context.Context, kind records.Kind, f records.Fields) (*filesView, error) {
	name, ok := fileField[kind]
	if !ok {
		return nil, nil
	}
	fd, _ := records.SchemaOf(kind).Field(name)
	fv := &filesView{Label: fd.Label}
	var err error
	fv.Files, fv.Waiting, err = h.fileViews(ctx, hashesOf(kind, f), "/files/")
	return fv, err
}

// decisionFiles is the 县里的决定文件 section of an application, nil when
// no decision carried a document.
func (h *Handler) decisionFiles(ctx context.Context, f records.Fields) (*filesView, error) {
	hashes := hashesIn(f, decisionField)
	if len(hashes) == 0 {
		return nil, nil
	}
	fv := &filesView{Label: "县里的决定文件", Decision: true}
	var err error
	fv.Files, fv.Waiting, err = h.fileViews(ctx, hashes, "/files/")
	return fv, err
}

func isImage(typ string) bool { return typ == "image/jpeg" || typ == "image/png" }

// filesDir is where the files are: FilesDir, or the store's default.
func (h *Handler) filesDir() string {
	if h.FilesDir != "" {
		return h.FilesDir
	}
	return h.Store.FilesDir()
}

// staffCache: a file never changes under its name, and only the staff
// member's own browser keeps it.
const staffCache = "private, max-age=31536000, immutable"

// publicCache: a notice may be withdrawn or its window end; the browser
// asks again each time (an unchanged file costs a 304).
const publicCache = "no-cache"

// handleGetFile serves a file, or its thumbnail, to staff whose scope
// covers a record naming it.
func (h *Handler) handleGetFile(thumb bool) userHandler {
	return func(w http.ResponseWriter, r *http.Request, u *server.User) {
		fi, err := h.Store.FileInScope(r.Context(), r.PathValue("hash"), u.Scope())
		h.sendFile(w, r, u, fi, err, thumb, staffCache)
	}
}

// handleGetPublicFile serves a file, or its thumbnail, that a disclosure
// the portal shows names; to anyone, without logging in.
func (h *Handler) handleGetPublicFile(thumb bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		fi, err := h.Store.PublicFile(r.Context(), r.PathValue("hash"), zone.Today(h.Now()))
		h.sendFile(w, r, nil, fi, err, thumb, publicCache)
	}
}

func (h *Handler) sendFile(w http.ResponseWriter, r *http.Request, u *server.User, fi server.FileInfo, err error, thumb bool, cache string) {
	if errors.Is(err, server.ErrNotFound) || err == nil && thumb && !isImage(fi.Type) {
		h.fail(w, r, u, http.StatusNotFound, "没有这个附件，或它不在您可以查看的范围内。请从记录页面打开附件。")
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	if !thumb {
		server.WriteFile(w, r, h.filesDir(), fi, cache, h.Logger)
		return
	}
	etag := `"` + fi.Hash + "-t" + strconv.Itoa(thumbEdge) + `"`
	w.Header().Set("Cache-Control", cache)
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	data, err := h.thumbs.get(r.Context(), fi.Hash, func(ctx context.Context) ([]byte, error) { return h.makeThumb(ctx, fi) })
	if err != nil {
		if r.Context().Err() == nil {
			h.Logger.Error("thumbnail", "hash", fi.Hash, "err", err)
		}
		w.Header().Set("Cache-Control", "no-store")
		h.fail(w, r, u, http.StatusInternalServerError, "缩略图生成失败，请点开原图查看；如反复出现请联系管理员。")
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
	if r.Method != http.MethodHead {
		w.Write(data)
	}
}

// makeThumb reads a photo, checked against its name, and scales it down.
func (h *Handler) makeThumb(ctx context.Context, fi server.FileInfo) ([]byte, error) {
	br, err := server.OpenFile(h.filesDir(), fi.Hash)
	if err != nil {
		return nil, err
	}
	defer br.Close()
	data, err := io.ReadAll(io.LimitReader(br, br.Size()+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", fi.Hash, err)
	}
	return photo.Thumbnail(ctx, data, thumbEdge)
}

// thumbWait bounds how long one thumbnail may take (it waits for one of
// photo's decoding slots first), whoever asked for it first.
const thumbWait = 30 * time.Second
