package logging

import (
	"context"
	"crypto/rand"
	"log/slog"
)

// Request ids: each HTTP request the county serves carries one, from the
// caller's X-Request-ID when it is sane or made here, and every log line
// written with the request's context names it (KeyRequestID), so that a
// collector can gather one request's lines and an operator can match a
// user's complaint ("错误编号 …") to them.

// KeyRequestID is the attribute a request's log lines carry.
const KeyRequestID = "request_id"

// HeaderRequestID is the header the id is read from and echoed in.
const HeaderRequestID = "X-Request-ID"

type requestIDKey struct{}

// WithRequestID returns ctx carrying id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID is the id ctx carries, or "".
func RequestID(ctx context.Context) string {
	if ctx == nil {
		return ""
	}
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// NewRequestID makes a random id: 16 lower-case letters (75 bits), enough
// not to repeat among one county's requests. Letters, not hex: a run of
// eleven digits in an id would read as a mobile number to the scanners
// (internal/pii) that check logs for personal data.
func NewRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	for i, c := range b {
		b[i] = 'a' + c%26
	}
	return string(b[:])
}

// SaneRequestID reports whether an incoming id may be kept: 1 to 64
// characters of letters, digits, '-', '_', '.' and ':'. Anything else — a
// line break that would forge a log line, markup, a name or a phone number
// spelt with spaces, a megabyte of header — is replaced by a new id rather
// than cleaned, so the log never holds what a caller chose to write there.
func SaneRequestID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// requestIDHandler adds the context's request id to every record.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r = r.Clone()
		r.AddAttrs(slog.String(KeyRequestID, id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(as)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// WithRequestIDs wraps h so that records logged with a context carrying a
// request id name it. New does this for the programs' loggers.
func WithRequestIDs(h slog.Handler) slog.Handler { return requestIDHandler{h} }
