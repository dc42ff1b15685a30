package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"stationsync/internal/bytesize"
	"strings"

	"stationsync/agent"
	"stationsync/internal/bundle"
)

// The U盘 page (PROTOCOL.md §16): a village without a link writes what the
// county lacks onto a stick (导出到U盘) and takes the county's answer back
// in (导入回执). The bundle is written into a folder on this PC — the
// stick's, when the cadre names it — and offered for download as well, so
// that a browser can save it wherever the cadre chooses.

// metaBundleDir is the folder the last export went to.
const metaBundleDir = "bundle_dir"

// maxDownlink bounds an uploaded downlink: the county's answer carries
// records and the files of those records.
const maxDownlink = 1 << 30

type bundlesData struct {
	Dir     string   // where the next export goes
	Default string   // the folder used when none is named
	Files   []string // bundles in Dir, newest name first
}

// bundleRoutes adds the U盘 page's routes.
func (s *Server) bundleRoutes(auth func(string, handler)) {
	auth("GET /bundles", s.handleGetBundles)
	auth("POST /bundles/export", s.handlePostExport)
	auth("POST /bundles/import", s.handlePostImport)
	auth("GET /bundles/file/{name}", s.handleGetBundleFile)
}

// defaultBundleDir is the export folder when none was named: beside the
// station's data, never the stick (which may not be there).
func (s *Server) defaultBundleDir() string {
	return filepath.Join(filepath.Dir(s.a.Store.DB().Path), "bundles")
}

func (s *Server) bundleDir(ctx context.Context) string {
	if d := s.a.Store.Meta(ctx, metaBundleDir); d != "" {
		return d
	}
	return s.defaultBundleDir()
}

func (s *Server) handleGetBundles(w http.ResponseWriter, r *http.Request, se *session) {
	d := bundlesData{Dir: s.bundleDir(r.Context()), Default: s.defaultBundleDir()}
	if ents, err := os.ReadDir(d.Dir); err == nil {
		for i := len(ents) - 1; i >= 0; i-- {
			if kind, _, _, _, ok := bundle.ParseFileName(ents[i].Name()); ok && kind == bundle.Uplink {
				d.Files = append(d.Files, ents[i].Name())
			}
		}
	}
	s.render(w, r, se, http.StatusOK, "bundles", page{Title: "U盘传送", Nav: "sync", Data: d})
}

func (s *Server) handlePostExport(w http.ResponseWriter, r *http.Request, se *session) {
	v, ok := postedForm(w, r)
	if !ok {
		return
	}
	dir := strings.TrimSpace(v.Get("dir"))
	if dir == "" {
		dir = s.defaultBundleDir()
		if err := os.MkdirAll(dir, 0o700); err != nil {
			s.flash(se, "error", "不能创建导出文件夹 "+dir+"："+err.Error())
			s.redirect(w, r, "/bundles")
			return
		}
	}
	if !filepath.IsAbs(dir) {
		s.flash(se, "error", "请填写完整的文件夹路径，例如 E:\\ 或 /media/usb。")
		s.redirect(w, r, "/bundles")
		return
	}
	res, err := s.a.Export(r.Context(), dir)
	if err != nil {
		s.flash(se, "error", "没有导出："+PlainReason(err.Error()))
		s.redirect(w, r, "/bundles")
		return
	}
	s.a.Store.SetMeta(r.Context(), map[string]string{metaBundleDir: dir})
	// The file's name only: the folder is on the page, and a long path
	// does not fit a phone's width.
	msg := fmt.Sprintf("已导出 %s：%d 条记录，%d 个附件，共 %s。请把它带到县里导入。", filepath.Base(res.Path), res.Changes, res.Files, bytesize.Text(res.Size))
	if len(res.Missing) > 0 {
		msg += fmt.Sprintf("有 %d 个附件在本机已损坏或丢失，没有导出，请重新添加。", len(res.Missing))
	}
	s.flash(se, "ok", msg)
	s.redirect(w, r, "/bundles")
}

// handleGetBundleFile downloads an uplink of the export folder, by its
// name only.
func (s *Server) handleGetBundleFile(w http.ResponseWriter, r *http.Request, se *session) {
	name := r.PathValue("name")
	if kind, _, _, _, ok := bundle.ParseFileName(name); !ok || kind != bundle.Uplink || filepath.Base(name) != name {
		s.fail(w, r, se, agent.ErrNotFound)
		return
	}
	f, err := os.Open(filepath.Join(s.bundleDir(r.Context()), name))
	if err != nil {
		s.fail(w, r, se, agent.ErrNotFound)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	http.ServeContent(w, r, name, fi.ModTime(), f)
}

func (s *Server) handlePostImport(w http.ResponseWriter, r *http.Request, se *session) {
	back := "/bundles"
	if r.ContentLength > maxDownlink {
		s.flash(se, "error", "选的文件太大，不是县里的回执。")
		s.redirect(w, r, back)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxDownlink)
	mr, err := r.MultipartReader()
	if err != nil {
		s.flash(se, "error", "没有收到文件，请选择县里的回执文件（村站通回执-….bundle）后再导入。")
		s.redirect(w, r, back)
		return
	}
	// The upload goes to a file of its own, never beside the export: a
	// half-received answer is not a bundle anyone could take for whole.
	tmp, err := os.CreateTemp(filepath.Dir(s.a.Store.DB().Path), ".downlink-*.tmp")
	if err != nil {
		s.fail(w, r, se, err)
		return
	}
	defer func() { tmp.Close(); os.Remove(tmp.Name()) }()
	got := false
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			s.flash(se, "error", "文件没有传完，请重新选择后再导入。")
			s.redirect(w, r, back)
			return
		}
		if p.FormName() != "file" || p.FileName() == "" {
			continue
		}
		if _, err := io.Copy(tmp, p); err != nil {
			s.flash(se, "error", "文件没有传完（或太大），请重新选择后再导入。")
			s.redirect(w, r, back)
			return
		}
		got = true
		break
	}
	if !got {
		s.flash(se, "error", "没有收到文件，请选择县里的回执文件（村站通回执-….bundle）后再导入。")
		s.redirect(w, r, back)
		return
	}
	res, err := s.a.Import(r.Context(), tmp.Name())
	var be *bundle.Error
	switch {
	case errors.As(err, &be):
		s.flash(se, "error", be.Message)
	case err != nil:
		s.flash(se, "error", "没有导入："+PlainReason(err.Error()))
	default:
		msg := fmt.Sprintf("已导入县里的回执：%d 条记录已确认，收到 %d 条县里的记录，%d 个附件。", res.Acked, res.Pulled, res.Files)
		if res.Rejected > 0 {
			msg += fmt.Sprintf("有 %d 条被县里退回，请在「同步情况」里修正。", res.Rejected)
		}
		for _, warn := range res.Warnings {
			msg += warn
		}
		s.flash(se, "ok", msg)
	}
	s.redirect(w, r, back)
}
