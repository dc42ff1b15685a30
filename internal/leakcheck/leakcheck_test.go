package leakcheck

import (
	"fmt"
	"strings"
	"testing"
)

type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

func blocked(stop chan struct{}) { <-stop }

// A goroutine started after the snapshot and still running is named with
// its stack; once it ends, Check passes.
func TestCheck(t *testing.T) {
	before := Take()
	stop := make(chan struct{})
	go blocked(stop)
	r := &recorder{TB: t}
	Check(r, before)
	if !strings.Contains(r.failed, "1 goroutines left") || !strings.Contains(r.failed, "leakcheck.blocked") {
		t.Fatalf("leak not found: %q", r.failed)
	}
	close(stop)
	r = &recorder{TB: t}
	Check(r, before)
	if r.failed != "" {
		t.Fatal(r.failed)
	}
}
