package web

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"stationsync/internal/bytesize"
	"strconv"
	"time"

	"stationsync/agent"
	"stationsync/internal/blobstore"
	"stationsync/internal/photo"
	"stationsync/internal/records"
)

// Attachments on the record pages: the form that adds photos and scans
// (several at once, with the network down: Agent.Attach keeps them here
// and the sync takes them up later), the files with their state, 删除 for
// one the county has not got yet, and the files themselves (thumbnails,
// full size, PDF), served from the station's blob store only to a cadre
// logged in and only as a file of the record named in the address.

// DefaultMaxUpload is what one upload request may carry: a dozen phone
// photos. Each file is then held to the agent's limit after normalising.
const DefaultMaxUpload = 64 << 20

// thumbEdge is the long side of a thumbnail: small enough for a slow PC to
// draw a page of them, large enough to tell one 户口簿 page from another.
const thumbEdge = 320

// fileKinds are the pages that carry files: the template's name, the kind
// of record and where its page is.
var fileKinds = map[string]struct {
	kind records.Kind
	base string
}{
	"visit":       {records.Visit, "/visits/"},
	"application": {records.Application, "/applications/"},
	"disclosure":  {records.Disclosure, "/disclosures/"},
}

// filesPart is what the attachments partial (partials/attachments.html)
// draws on a record's page, and the counts on the sync page.
type filesPart struct {
	Record   string // the record's id
	Base     string // its page, "/visits/" + id
	Files    []fileRow
	CanAdd   bool
	Why      string // why no file can be added now
	Max      string // the request limit, "64 MB"
	Counts   *agent.FileCounts
	Usage    string // bytes still to go up
	Holding  int    // files noted on this PC
	Uploaded int    // files the county holds, kept here or evicted
	// Disk is what the station's files take on its disk (the sync page);
	// EvictDays the days before a file the county holds leaves it, 0 never.
	Disk      *agent.DiskUse
	EvictRule string
	Free      string // the disk's free space, as a cadre reads it
}

type fileRow struct {
	agent.Attachment
	Image bool
	Known bool // this station noted the file (else another station of the village attached it)
	Held  bool // the file is on this PC (not evicted, not another station's)
}

func newFileRow(at agent.Attachment) fileRow {
	return fileRow{Attachment: at, Image: at.Type == "image/jpeg" || at.Type == "image/png", Known: at.State != "",
		Held: at.State != "" && at.State != agent.FileEvicted}
}

// filesOf is the partial's data for page name at r, or nil when the page
// carries no files. A failure to read them leaves the page without them
// (logged): the record itself is what the cadre came for.
func (s *Server) filesOf(r *http.Request, name string) *filesPart {
	ctx := r.Context()
	if name == "sync" {
		c, err := s.a.Store.FileCounts(ctx)
		if err != nil {
			s.log.Error("attachment counts", "err", err)
			return nil
		}
		p := &filesPart{Counts: &c, Holding: c.Pending + c.Acked + c.Refused + c.Missing, Usage: bytesize.Text(c.PendingBytes), Uploaded: c.Acked + c.Evicted}
		if u, err := s.a.DiskUse(ctx); err != nil {
			s.log.Error("disk use", "err", err)
		} else {
			p.Disk, p.EvictRule, p.Free = &u, evictRule(u.EvictAfter), diskCN(u.Free)
		}
		return p
	}
	fk, ok := fileKinds[name]
	id := r.PathValue("id")
	if !ok || id == "" {
		return nil
	}
	list, err := s.a.Attachments(ctx, id)
	if err != nil {
		if !errors.Is(err, agent.ErrNotFound) {
			s.log.Error("attachments", "record", id, "err", err)
		}
		return nil
	}
	p := &filesPart{Record: id, Base: fk.base + id, CanAdd: true, Max: bytesize.Text(s.opts.MaxUpload)}
	for _, at := range list {
		if at.Decision {
			continue // the county's, shown under 县里的决定 (decisionRows)
		}
		p.Files = append(p.Files, newFileRow(at))
	}
	if fk.kind == records.Application {
		if l, err := s.a.Store.Get(ctx, records.Application, id); err == nil {
			if st := records.TextValue(l.Fields, "status"); !records.StationEditable(st) {
				p.CanAdd, p.Why = false, "申请已提交（"+records.StatusLabel[st]+"），不能再添加证明材料；县里退回后可以补充。"
			}
		}
	}
	return p
}

// upload is one file of a posted form.
type upload struct {
	name string
	data []byte
}

// msgTooBig is said when a request carries more than MaxUpload.
func (s *Server) msgTooBig() string {
	return "一次选的文件太大，合计超过 " + bytesize.Text(s.opts.MaxUpload) + "，一个也没有添加。请分几次添加，每次少选几张。"
}

// handlePostFiles attaches the files posted to a record of kind. Every
// file is checked before any is kept: a refused one (its type, a damaged
// image, the size) leaves the record as it was, with the reason.
func (s *Server) handlePostFiles(kind records.Kind, base string) handler {
	return func(w http.ResponseWriter, r *http.Request, se *session) {
		ctx := r.Context()
		id := r.PathValue("id")
		if _, err := s.a.Store.Get(ctx, kind, id); err != nil {
			s.fail(w, r, se, err)
			return
		}
		back := base + id + "#files"
		refuse := func(msg string) {
			s.flash(se, "error", msg)
			s.redirect(w, r, back)
		}
		if r.ContentLength > s.opts.MaxUpload {
			// Read what the browser sends before answering, so that it
			// shows the answer instead of a broken connection; on the
			// loopback that costs a moment.
			io.Copy(io.Discard, io.LimitReader(r.Body, 1<<30))
			refuse(s.msgTooBig())
			return
		}
		// Without a Content-Length (chunked), only reading finds it.
		r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxUpload)
		files, err := readUploads(r)
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				refuse(s.msgTooBig())
				return
			}
			refuse("没有收到完整的文件，请重新选择文件再点「添加」。")
			return
		}
		if len(files) == 0 {
			refuse("请先选择要添加的照片或扫描件。")
			return
		}
		// Checked first, so that the fifth of five being a HEIC photo
		// adds none of them: the cadre fixes that one and adds all five.
		for _, f := range files {
			if _, err := photo.Normalize(ctx, bytes.NewReader(f.data), photo.Options{}); err != nil {
				refuse(fileMsg(f.name, err))
				return
			}
		}
		before, err := s.a.Attachments(ctx, id)
		if err != nil {
			s.fail(w, r, se, err)
			return
		}
		had := map[string]bool{}
		for _, at := range before {
			had[at.Hash] = true
		}
		var added []string
		for _, f := range files {
			h, err := s.a.Attach(ctx, id, f.name, se.account.Name, bytes.NewReader(f.data))
			if err != nil {
				// Take off what this request added, so that a refusal
				// changes nothing the cadre would have to undo.
				for _, a := range added {
					if derr := s.a.Detach(ctx, id, a, se.account.Name); derr != nil {
						s.log.Error("undo attachment", "record", id, "hash", a, "err", derr)
					}
				}
				if _, ok := errors.AsType[*photo.Error](err); ok {
					refuse(fileMsg(f.name, err))
					return
				}
				if _, ok := errors.AsType[*records.FieldError](err); ok {
					refuse(fileMsg(f.name, err))
					return
				}
				s.fail(w, r, se, err)
				return
			}
			if !had[h] && !slices.Contains(added, h) {
				added = append(added, h)
			}
		}
		msg := "已添加 " + strconv.Itoa(len(added)) + " 个文件，联网后会上传到县里。"
		if len(added) < len(files) {
			msg += "（" + strconv.Itoa(len(files)-len(added)) + " 个和已有的文件相同，没有重复添加）"
		}
		s.flash(se, "ok", msg)
		s.redirect(w, r, back)
	}
}

// fileMsg names the file in a refusal.
func fileMsg(name string, err error) string {
	if name == "" {
		return err.Error()
	}
	return "「" + name + "」没有添加：" + err.Error()
}

// readUploads reads the parts named "file" of a multipart form.
func readUploads(r *http.Request) ([]upload, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, err
	}
	var out []upload
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if p.FormName() != "file" || p.FileName() == "" {
			// A form field, or the empty part of a file input left blank.
			if _, err := io.Copy(io.Discard, p); err != nil {
				return nil, err
			}
			continue
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return nil, err
		}
		out = append(out, upload{name: p.FileName(), data: b})
	}
}

// handlePostFileDelete takes a file the county has not got off a record.
// One the county holds stays: it is part of the record's evidence there.
func (s *Server) handlePostFileDelete(kind records.Kind, base string) handler {
	return func(w http.ResponseWriter, r *http.Request, se *session) {
		ctx := r.Context()
		id, hash := r.PathValue("id"), r.PathValue("hash")
		if _, err := s.a.Store.Get(ctx, kind, id); err != nil {
			s.fail(w, r, se, err)
			return
		}
		back := base + id + "#files"
		at, ok := s.fileOf(r, id, hash)
		if !ok {
			s.flash(se, "error", "这条记录没有这个文件，可能已经删除了。")
			s.redirect(w, r, back)
			return
		}
		if at.Decision {
			s.flash(se, "error", "这是县里随决定下发的文件，村站不能删除。")
			s.redirect(w, r, back)
			return
		}
		switch at.State {
		case agent.FileAcked, agent.FileEvicted:
			s.flash(se, "error", "「"+at.Name+"」已上传到县里，不能再删除：县里已把它作为这条记录的材料保存。如果传错了，请联系县民政局处理。")
			s.redirect(w, r, back)
			return
		case "":
			s.flash(se, "error", "这个文件是村里另一台电脑添加的，本机不能删除。")
			s.redirect(w, r, back)
			return
		}
		if err := s.a.Detach(ctx, id, hash, se.account.Name); err != nil {
			if _, ok := errors.AsType[*records.FieldError](err); ok {
				s.flash(se, "error", err.Error())
				s.redirect(w, r, back)
				return
			}
			s.fail(w, r, se, err)
			return
		}
		s.flash(se, "ok", "已删除「"+at.Name+"」。")
		s.redirect(w, r, back)
	}
}

// fileOf is file hash of record id, when the record names it.
func (s *Server) fileOf(r *http.Request, id, hash string) (agent.Attachment, bool) {
	if !blobstore.ValidHash(hash) {
		return agent.Attachment{}, false
	}
	list, err := s.a.Attachments(r.Context(), id)
	if err != nil {
		return agent.Attachment{}, false
	}
	for _, at := range list {
		if at.Hash == hash {
			return at, true
		}
	}
	return agent.Attachment{}, false
}

// handleGetFile serves file hash of record id from the blob store: the
// file itself, or with thumb a small JPEG of a photo.
func (s *Server) handleGetFile(thumb bool) handler {
	return func(w http.ResponseWriter, r *http.Request, se *session) {
		id, hash := r.PathValue("id"), r.PathValue("hash")
		at, ok := s.fileOf(r, id, hash)
		if !ok {
			http.Error(w, "找不到这个文件", http.StatusNotFound)
			return
		}
		rd, err := s.a.OpenAttachment(hash)
		if errors.Is(err, blobstore.ErrNotFound) && !thumb {
			// Evicted, or another station's: brought from the county now
			// if the link allows (attachments_fetch.go).
			if ferr := s.fetchNow(r, id, hash); ferr != nil {
				http.Error(w, "这个文件不在本机，从县里取回没有成功："+ferr.Error(), http.StatusServiceUnavailable)
				return
			}
			if at2, ok := s.fileOf(r, id, hash); ok {
				at = at2
			}
			rd, err = s.a.OpenAttachment(hash)
		}
		if errors.Is(err, blobstore.ErrNotFound) {
			http.Error(w, "本机没有这个文件，请在记录页点「从县里取回」", http.StatusNotFound)
			return
		}
		if err != nil {
			s.log.Error("open attachment", "hash", hash, "err", err)
			http.Error(w, "文件读取失败", http.StatusInternalServerError)
			return
		}
		data, err := io.ReadAll(rd)
		rd.Close()
		if err != nil {
			s.log.Error("read attachment", "hash", hash, "err", err)
			http.Error(w, "文件已损坏，读取失败", http.StatusInternalServerError)
			return
		}
		typ := at.Type
		if thumb {
			if at.Type != "image/jpeg" && at.Type != "image/png" {
				http.Error(w, "这个文件没有缩略图", http.StatusNotFound)
				return
			}
			data, err = photo.Thumbnail(r.Context(), data, thumbEdge)
			if err != nil {
				s.log.Error("thumbnail", "hash", hash, "err", err)
				http.Error(w, "缩略图生成失败", http.StatusInternalServerError)
				return
			}
			typ = "image/jpeg"
		} else {
			name := at.Name
			if name == "" {
				name = hash[:12]
			}
			w.Header().Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": name}))
		}
		if typ == "" {
			typ = "application/octet-stream"
		}
		w.Header().Set("Content-Type", typ)
		// The address names the bytes: they never change.
		w.Header().Set("Cache-Control", "private, max-age=86400")
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data)
	}
}

// evictRule says when files the county holds leave this PC.
func evictRule(d time.Duration) string {
	switch {
	case d <= 0:
		return "不自动清理（config.json 的 evict_files_after_days 为 0）"
	case d < 24*time.Hour:
		return "县里收到的文件在本机保存不到 1 天就自动清理，需要时可从县里取回"
	default:
		return "县里收到的文件在本机保存 " + strconv.Itoa(int(d/(24*time.Hour))) + " 天后自动清理，需要时可从县里取回"
	}
}

// diskCN is a disk's free space; "无法读取" when unknown.
func diskCN(n int64) string {
	switch {
	case n < 0:
		return "无法读取"
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	default:
		return bytesize.Text(n)
	}
}

// fileStates is an attachment's state as the cadre reads it.
var fileStates = map[string]string{
	agent.FilePending: "待上传",
	agent.FileAcked:   "已上传到县里",
	agent.FileRefused: "县里拒收",
	agent.FileMissing: "本机文件损坏，请删除后重新添加",
	agent.FileEvicted: "已上传到县里",
	"":                "已在县里",
}

func init() {
	funcs["fileSize"] = bytesize.Text
	funcs["fileState"] = func(state, why string) string {
		s := fileStates[state]
		if state == agent.FileRefused && why != "" {
			s += "：" + why
		}
		return s
	}
}
