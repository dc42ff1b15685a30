package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// A --batch or --ahead out of range is refused before anything opens,
// with the values it may take.
func TestPushFlagsRefuseBadValues(t *testing.T) {
	for _, args := range [][]string{
		{"sync", "--ahead", "sometimes"},
		{"sync", "--batch", "-5"},
		{"run", "--ahead", "ALWAYS"},
	} {
		dir := t.TempDir()
		var out, errb bytes.Buffer
		code := Main(context.Background(), append(args, "--data", dir), strings.NewReader(""), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), "--ahead 只能是 auto、always 或 never") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errb.String())
		}
		if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
			t.Errorf("%v: wrote %v", args, m)
		}
	}
}
