// Package pagebuf renders a page completely before any of it is sent.
//
// html/template writes as it executes: a field it cannot evaluate halfway
// down leaves a 200 answer cut in the middle, and the cadre never learns
// that half of the record is missing. Executing into a buffer first means
// a failure can still be answered with a clear error page and a 500.
package pagebuf

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync"
)

// maxKept bounds the buffers the pool keeps: one export-sized page must
// not pin its memory for the life of the process.
const maxKept = 1 << 20

var pool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Write runs exec into a pooled buffer and, only if it succeeds, sends
// status and the page (the caller has set the headers). On error nothing
// has been written to w and the error is returned, for the caller to log
// and answer. A failure to send (the browser went away) is not returned:
// there is no one left to answer.
func Write(w http.ResponseWriter, status int, exec func(io.Writer) error) error {
	b := pool.Get().(*bytes.Buffer)
	b.Reset()
	defer func() {
		if b.Cap() <= maxKept {
			pool.Put(b)
		}
	}()
	if err := exec(b); err != nil {
		return err
	}
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	w.Write(b.Bytes())
	return nil
}
