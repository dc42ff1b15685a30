package server

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"stationsync/internal/blobstore"
	"stationsync/syncproto"
)

// Fetching a file (PROTOCOL.md §15.5): `GET /v1/files/{hash}` gives a
// station a file the county holds, when a record of the station's village
// names it (record_files). A station that evicted its copy takes it back
// this way; a county decision's document goes down the same way, once the
// decision's record names it — the gate is the record, not who sent the
// file.
//
// The answer resumes: `?offset=N` (signed with the rest of the request) or
// a `Range: bytes=N-` / `bytes=N-M` header; a cut link costs what had not
// arrived.

// fetchStall bounds a write that makes no progress: 2G carries 8 KB/s, so
// 32 KiB take 4 s; a minute without a byte is a gone station.
const fetchStall = time.Minute

// fetchPiece is what is written between two moves of the write deadline.
const fetchPiece = 32 << 10

func (f *fileService) handleFetch(w http.ResponseWriter, r *http.Request) {
	a := f.admit(w, r)
	if a == nil {
		return
	}
	defer a.release()
	hash := r.PathValue("hash")
	q := r.URL.Query()
	offset := int64(0)
	if v := q.Get("offset"); v != "" || q.Has("offset") {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, syncproto.CodeBadRequest, "附件下载请求格式不正确", 0)
			return
		}
		offset = n
	}
	if !blobstore.ValidHash(hash) || len(q) > 1 || len(q) == 1 && len(q["offset"]) != 1 {
		writeError(w, http.StatusBadRequest, syncproto.CodeBadRequest, "附件下载请求格式不正确", 0)
		return
	}
	ctx := r.Context()
	// The village's records first: a station learns nothing of files
	// that are not its village's, not even whether the county has them.
	if ok, err := f.referenced(ctx, hash, a.st.Village); err != nil {
		f.s.internal(w, r, err)
		return
	} else if !ok {
		writeError(w, http.StatusNotFound, syncproto.CodeFileUnknown, "本村的记录没有这个附件", 0)
		return
	}
	fi, err := f.db.Files(ctx, []string{hash})
	if err != nil {
		f.s.internal(w, r, err)
		return
	}
	info, arrived := fi[hash]
	br, err := f.files.main.Open(hash)
	if !arrived || err != nil {
		if err != nil && arrived {
			f.s.Logger.Error("fetch: file listed but not on disk", "hash", hash, "err", err)
		}
		writeError(w, http.StatusNotFound, syncproto.CodeFileUnknown, "这个附件还没有上传到县里", 0)
		return
	}
	defer br.Close()
	size := br.Size()
	end := size - 1
	ranged := false
	if rh := r.Header.Get("Range"); rh != "" {
		from, to, ok := parseByteRange(rh, size)
		if !ok || q.Has("offset") {
			w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
			writeError(w, http.StatusRequestedRangeNotSatisfiable, syncproto.CodeBadRequest, "附件下载范围不正确", 0)
			return
		}
		offset, end, ranged = from, to, true
	}
	if offset >= size {
		w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		writeError(w, http.StatusRequestedRangeNotSatisfiable, syncproto.CodeBadRequest, fmt.Sprintf("附件只有 %d 字节", size), 0)
		return
	}
	typ := info.Type
	if typ == "" {
		typ = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", typ)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "private, no-transform")
	h.Set("ETag", `"`+hash+`"`)
	h.Set("Accept-Ranges", "bytes")
	h.Set(syncproto.HeaderFileSize, strconv.FormatInt(size, 10))
	h.Set("Content-Length", strconv.FormatInt(end-offset+1, 10))
	status := http.StatusOK
	if ranged {
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", offset, end, size))
		status = http.StatusPartialContent
	}
	w.WriteHeader(status)
	// From 0 the bytes go through the checking reader: a file damaged on
	// the county's disk ends the answer early rather than going down
	// whole. Any part is checked by the station against the hash when it
	// has all of it.
	var src io.Reader = br
	if offset > 0 || end < size-1 {
		src = io.NewSectionReader(blobAt{f.files.main, hash}, offset, end-offset+1)
	}
	rc := http.NewResponseController(w)
	buf := make([]byte, fetchPiece)
	var sent int64
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			rc.SetWriteDeadline(time.Now().Add(fetchStall))
			if _, err := w.Write(buf[:n]); err != nil {
				f.s.Logger.Debug("fetch cut", "station", a.st.ID, "hash", hash, "sent", sent, "err", err)
				return
			}
			sent += int64(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			f.s.Logger.Error("fetch: reading the file failed; answer ended early", "hash", hash, "err", rerr)
			return
		}
	}
	f.s.Logger.Debug("file fetched", "station", a.st.ID, "hash", hash, "from", offset, "bytes", sent)
}

// blobAt reads a blob at an offset (blobstore.Store.ReadAt).
type blobAt struct {
	s    *blobstore.Store
	hash string
}

func (b blobAt) ReadAt(p []byte, off int64) (int, error) { return b.s.ReadAt(b.hash, p, off) }

// parseByteRange reads one range, "bytes=N-" or "bytes=N-M", of a file of
// size bytes. Suffix ranges and several ranges are not for stations.
func parseByteRange(h string, size int64) (from, to int64, ok bool) {
	spec, found := strings.CutPrefix(h, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	a, b, found := strings.Cut(spec, "-")
	if !found || a == "" {
		return 0, 0, false
	}
	from, err := strconv.ParseInt(a, 10, 64)
	if err != nil || from < 0 || from >= size {
		return 0, 0, false
	}
	to = size - 1
	if b != "" {
		if to, err = strconv.ParseInt(b, 10, 64); err != nil || to < from {
			return 0, 0, false
		}
		to = min(to, size-1)
	}
	return from, to, true
}
