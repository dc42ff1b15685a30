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

	"stationsync/agent"
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

func (c *capture) errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.msgs {
		if strings.HasPrefix(m, "ERROR") {
			out = append(out, m)
		}
	}
	return out
}

// A template that fails after it has written part of the page answers
// 500 with the error page and a way back, none of the half page, and logs
// the template; the print page too.
func TestTemplateErrorIsNeverAHalfPage(t *testing.T) {
	a, err := agent.Open(context.Background(), agent.Config{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	log := &capture{}
	s, err := New(a, Options{Logger: slog.New(log)})
	if err != nil {
		t.Fatal(err)
	}
	broken := template.Must(s.tmpl["visits"].Clone())
	template.Must(broken.New("content").Parse(`上半页 {{.Data.NoSuchField}} 下半页`))
	template.Must(broken.New("print").Parse(`<html>上半页 {{.NoSuchField}} 下半页</html>`))
	s.tmpl["visits"] = broken

	req := httptest.NewRequest(http.MethodGet, "/visits", nil)
	req.Host = "127.0.0.1:8484"
	req.Header.Set("Referer", "http://127.0.0.1:8484/persons?q=%E7%8E%8B")
	for _, draw := range []func(w http.ResponseWriter){
		func(w http.ResponseWriter) {
			s.render(w, req, nil, http.StatusOK, "visits", page{Title: "走访记录", Data: struct{ Other int }{}})
		},
		func(w http.ResponseWriter) { s.renderPrint(w, req, "visits", struct{ Other int }{}) },
	} {
		rec := httptest.NewRecorder()
		draw(rec)
		body := rec.Body.String()
		if rec.Code != http.StatusInternalServerError {
			t.Errorf("status %d, want 500", rec.Code)
		}
		if strings.Contains(body, "上半页") || strings.Contains(body, "NoSuchField") {
			t.Errorf("half a page, or the template's insides, was sent: %s", body)
		}
		for _, want := range []string{"页面出错了，已记录。请返回上一页或联系县民政局信息员。", `href="/persons?q=%E7%8E%8B"`, "返回上一页", "</html>"} {
			if !strings.Contains(body, want) {
				t.Errorf("error page lacks %q: %s", want, body)
			}
		}
		if errs := log.errors(); len(errs) != 1 || !strings.Contains(errs[0], "template=visits") || !strings.Contains(errs[0], "NoSuchField") {
			t.Errorf("log: %q", errs)
		}
		log.msgs = nil
	}
}
