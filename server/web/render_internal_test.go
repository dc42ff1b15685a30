package web

import (
	"context"
	"html/template"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

type capture struct {
	mu   sync.Mutex
	msgs []string
}

func (c *capture) Enabled(context.Context, slog.Level) bool { return true }
func (c *capture) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.Key + "=" + a.Value.String()); return true })
	c.mu.Lock()
	c.msgs = append(c.msgs, b.String())
	c.mu.Unlock()
	return nil
}
func (c *capture) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *capture) WithGroup(string) slog.Handler      { return c }

// A template that fails after it has written part of the page answers
// 500 with the error page, none of the half page, and logs the template.
func TestTemplateErrorIsNeverAHalfPage(t *testing.T) {
	log := &capture{}
	h := &Handler{Logger: slog.New(log)}
	h.init()
	broken := template.Must(template.New("layout.html").Funcs(funcs).Parse(`<!doctype html><html><body>上半页 {{.Data.NoSuchField}} 下半页</body></html>`))
	h.pages["record"] = broken
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/records/person/x", nil)
	req.Header.Set("Referer", "http://example.com/records/person?place=340123101201")
	req.Host = "example.com"
	h.render(rec, req, http.StatusOK, "record", page{Data: struct{ Other int }{}, Names: map[string]string{}})
	body := rec.Body.String()
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", rec.Code)
	}
	if strings.Contains(body, "上半页") {
		t.Errorf("half a page was sent: %s", body)
	}
	for _, want := range []string{"页面出错了，已记录。请返回上一页或联系县民政局信息员。", `href="/records/person?place=340123101201"`, "返回上一页", "</html>"} {
		if !strings.Contains(body, want) {
			t.Errorf("error page lacks %q: %s", want, body)
		}
	}
	if len(log.msgs) != 1 || !strings.HasPrefix(log.msgs[0], "ERROR") || !strings.Contains(log.msgs[0], "template=record") || !strings.Contains(log.msgs[0], "NoSuchField") {
		t.Errorf("log: %q", log.msgs)
	}

	// When the error page fails too, a fixed page still says what to do.
	log.msgs = nil
	h.pages["error"] = broken
	rec = httptest.NewRecorder()
	h.render(rec, req, http.StatusOK, "record", page{Data: struct{ Other int }{}, Names: map[string]string{}})
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "上半页") || !strings.Contains(rec.Body.String(), "联系县民政局信息员") {
		t.Errorf("fallback: %d %s", rec.Code, rec.Body.String())
	}
}
