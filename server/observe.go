package server

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"time"

	"stationsync/internal/logging"
)

// observe is the outermost layer of the county's handler: it gives each
// request its id (logging.HeaderRequestID: the caller's when sane, else a
// new one, echoed in the answer and carried by the request's context into
// every log line written with it), and records what was answered — the
// route, the status, the protocol's error code, the body bytes read, the
// time — in the metrics and in one debug line.
//
// The debug line names the route's pattern, never the URL: a staff
// search's query string holds names and numbers.
func (s *Server) observe(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(logging.HeaderRequestID)
		if !logging.SaneRequestID(id) {
			id = logging.NewRequestID()
		}
		w.Header().Set(logging.HeaderRequestID, id)
		ctx := logging.WithRequestID(r.Context(), id)
		r = r.WithContext(ctx)
		rec := &recorder{ResponseWriter: w}
		var body *countingBody
		if r.Body != nil && r.Body != http.NoBody {
			body = &countingBody{ReadCloser: r.Body}
			r.Body = body
		}
		h.ServeHTTP(rec, r)
		d := time.Since(start)
		var n int64
		if body != nil {
			n = body.n
		}
		code := rec.errorCode()
		s.Metrics.observed(r.Pattern, rec.status, code, n, d)
		if s.Logger.Enabled(ctx, slog.LevelDebug) { // the arguments cost allocations even when not logged
			s.Logger.DebugContext(ctx, "http request", "method", r.Method, "route", r.Pattern, "status", rec.status, "code", code,
				"bytes_in", n, "bytes_out", rec.written, "ms", d.Milliseconds())
		}
	})
}

// recorder keeps the status of an answer and, for an error, the start of
// its body, where the protocol's error code is (writeError).
type recorder struct {
	http.ResponseWriter
	status  int
	written int64
	head    []byte // up to 512 bytes of an error answer's body
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.status >= 400 && len(r.head) < 512 {
		r.head = append(r.head, p[:min(len(p), 512-len(r.head))]...)
	}
	n, err := r.ResponseWriter.Write(p)
	r.written += int64(n)
	return n, err
}

// Flush passes a flush on: the staff pages' exports flush as they stream,
// and find the Flusher by a type assertion, not a ResponseController.
func (r *recorder) Flush() {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	http.NewResponseController(r.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection (pacedBodies
// moves its read deadline) and flush.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// errorCode is the protocol's error code of a JSON error answer
// (writeError's, whose code comes first), if any: a word of a-z and '_'
// (the label's values stay the protocol's few).
func (r *recorder) errorCode() string {
	const prefix = `{"error":{"code":"`
	if r.status < 400 || !bytes.HasPrefix(r.head, []byte(prefix)) {
		return ""
	}
	rest := r.head[len(prefix):]
	j := bytes.IndexByte(rest, '"')
	if j <= 0 || j > 32 {
		return ""
	}
	for _, c := range rest[:j] {
		if (c < 'a' || c > 'z') && c != '_' {
			return ""
		}
	}
	return string(rest[:j])
}

// countingBody counts the bytes read from a request body.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}
