package pagebuf

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestNothingWrittenOnError(t *testing.T) {
	rec := httptest.NewRecorder()
	err := Write(rec, http.StatusOK, func(w io.Writer) error {
		io.WriteString(w, "<html><body>half a page")
		return errors.New("can't evaluate field X")
	})
	if err == nil {
		t.Fatal("the error was lost")
	}
	if rec.Body.Len() != 0 || rec.Flushed {
		t.Fatalf("a failed page sent %q", rec.Body.String())
	}
	// The caller can still answer.
	rec.WriteHeader(http.StatusInternalServerError)
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d", rec.Code)
	}
}

func TestWholePageOnSuccess(t *testing.T) {
	rec := httptest.NewRecorder()
	if err := Write(rec, http.StatusTeapot, func(w io.Writer) error { _, err := io.WriteString(w, "整页"); return err }); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusTeapot || rec.Body.String() != "整页" || rec.Header().Get("Content-Length") != "6" {
		t.Fatalf("%d %q %q", rec.Code, rec.Body.String(), rec.Header().Get("Content-Length"))
	}
}

// Pages rendered at once never see each other's bytes through the pool.
func TestConcurrentPagesStayApart(t *testing.T) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan string, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			want := strings.Repeat(string(rune('a'+i%26)), 1000+i*100)
			rec := httptest.NewRecorder()
			Write(rec, http.StatusOK, func(w io.Writer) error { _, err := io.WriteString(w, want); return err })
			if rec.Body.String() != want {
				errs <- "page mixed with another"
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}
