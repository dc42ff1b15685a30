package web

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"

	"stationsync/internal/bundle"
	"stationsync/server"
)

// The U盘数据包 page (PROTOCOL.md §16): an administrator uploads a
// village's bundle, the county applies it as a push (inside the service,
// so with its writer and feed counter), and the page offers the answer
// (回执) for download, to be carried back. Administrators only: a bundle
// applies a station's changes, as the station itself would.

// maxUplink bounds an uploaded bundle: weeks of a village's records and
// photos.
const maxUplink = 2 << 30

// bundleRoutes adds the page's routes.
func (h *Handler) bundleRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /bundles", h.admin(h.handleGetBundles))
	mux.HandleFunc("POST /bundles", h.admin(h.handlePostBundle))
	mux.HandleFunc("GET /bundles/answer/{name}", h.admin(h.handleGetAnswer))
}

// answersDir keeps the answers the page wrote, for download.
func (h *Handler) answersDir() string {
	return filepath.Join(h.Store.DataDir(), "bundle-answers")
}

type bundlePage struct {
	Result *server.BundleImportResult
	Answer string // the answer's file name
	Err    string
}

func (h *Handler) handleGetBundles(w http.ResponseWriter, r *http.Request, u *server.User) {
	h.render(w, r, http.StatusOK, "bundles", page{Title: "U盘数据包", Nav: "stations", User: u, Data: bundlePage{}})
}

func (h *Handler) handlePostBundle(w http.ResponseWriter, r *http.Request, u *server.User) {
	show := func(status int, p bundlePage) {
		pg := page{Title: "U盘数据包", Nav: "stations", User: u, Data: p}
		if p.Err != "" {
			pg.Err = "没有导入：" + p.Err
		}
		h.render(w, r, status, "bundles", pg)
	}
	if r.ContentLength > maxUplink {
		show(http.StatusRequestEntityTooLarge, bundlePage{Err: "文件太大，不是村站导出的数据包。"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxUplink)
	mr, err := r.MultipartReader()
	if err != nil {
		show(http.StatusBadRequest, bundlePage{Err: "没有收到文件，请选择村站导出的数据包（村站通-….bundle）后再导入。"})
		return
	}
	dir := h.answersDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		h.internal(w, r, err)
		return
	}
	tmp, err := os.CreateTemp(h.Store.DataDir(), ".uplink-*.tmp")
	if err != nil {
		h.internal(w, r, err)
		return
	}
	defer func() { tmp.Close(); os.Remove(tmp.Name()) }()
	name := ""
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			show(http.StatusBadRequest, bundlePage{Err: "文件没有传完，请重新选择后再导入。"})
			return
		}
		if p.FormName() != "file" || p.FileName() == "" {
			continue
		}
		if _, err := io.Copy(tmp, p); err != nil {
			show(http.StatusBadRequest, bundlePage{Err: "文件没有传完（或太大），请重新选择后再导入。"})
			return
		}
		name = filepath.Base(p.FileName())
		break
	}
	if name == "" {
		show(http.StatusBadRequest, bundlePage{Err: "没有收到文件，请选择村站导出的数据包（村站通-….bundle）后再导入。"})
		return
	}
	res, err := h.Store.ImportBundle(r.Context(), server.BundleImport{Path: tmp.Name(), OutDir: dir, FilesDir: h.FilesDir, By: u.Username, Remote: r.RemoteAddr})
	var be *bundle.Error
	switch {
	case errors.As(err, &be):
		show(http.StatusUnprocessableEntity, bundlePage{Err: name + "：" + be.Message})
		return
	case err != nil:
		h.internal(w, r, err)
		return
	}
	show(http.StatusOK, bundlePage{Result: res, Answer: filepath.Base(res.Downlink)})
}

func (h *Handler) handleGetAnswer(w http.ResponseWriter, r *http.Request, u *server.User) {
	name := r.PathValue("name")
	if kind, _, _, _, ok := bundle.ParseFileName(name); !ok || kind != bundle.Downlink || filepath.Base(name) != name {
		h.fail(w, r, u, http.StatusNotFound, "没有这个回执文件")
		return
	}
	f, err := os.Open(filepath.Join(h.answersDir(), name))
	if err != nil {
		h.fail(w, r, u, http.StatusNotFound, "没有这个回执文件")
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		h.internal(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	http.ServeContent(w, r, name, fi.ModTime(), f)
}
