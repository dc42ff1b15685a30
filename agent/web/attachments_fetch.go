package web

import (
	"context"
	"errors"
	"net/http"
	"time"

	"stationsync/agent"
	"stationsync/internal/records"
)

// Files this PC does not keep — evicted after the county acknowledged
// them, or attached by another station of the village — come back from the
// county (Agent.FetchFile): by the 「从县里取回」 button on the record's
// page, or when the cadre opens the file itself.

// fetchWait bounds a fetch a page waits for: a 300 KB photo takes about
// 40 s over 2G; what came is kept, and the next try goes on from there.
const fetchWait = 2 * time.Minute

// fetchNow fetches file hash of record id, waiting at most fetchWait.
func (s *Server) fetchNow(r *http.Request, id, hash string) error {
	ctx, cancel := context.WithTimeout(r.Context(), fetchWait)
	defer cancel()
	err := s.a.FetchFile(ctx, id, hash)
	if err != nil && ctx.Err() != nil {
		return errors.New("取回时间太长，已收到的部分已保存，请稍后再点「从县里取回」继续")
	}
	return err
}

// handlePostFileFetch is the 「从县里取回」 button.
func (s *Server) handlePostFileFetch(kind records.Kind, base string) handler {
	return func(w http.ResponseWriter, r *http.Request, se *session) {
		id, hash := r.PathValue("id"), r.PathValue("hash")
		if _, err := s.a.Store.Get(r.Context(), kind, id); err != nil {
			s.fail(w, r, se, err)
			return
		}
		back := base + id + "#files"
		err := s.fetchNow(r, id, hash)
		switch {
		case errors.Is(err, agent.ErrNotFound):
			s.flash(se, "error", "这条记录没有这个文件。")
		case errors.Is(err, agent.ErrNotEnrolled):
			s.flash(se, "error", "本站还没有注册到县里，不能从县里取回文件。")
		case err != nil:
			s.flash(se, "error", "没有取回："+err.Error())
		default:
			s.flash(se, "ok", "已从县里取回这个文件。")
		}
		s.redirect(w, r, back)
	}
}
