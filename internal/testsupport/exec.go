package testsupport

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"stationsync/internal/testproc"
)

// Result is what a finished command printed and how it ended.
type Result struct {
	Stdout, Stderr string
	Code           int   // the exit code; -1 when a signal ended it or it never started
	Err            error // nil when it exited 0
}

// Output is what the command printed, stdout then stderr.
func (r Result) Output() string { return r.Stdout + r.Stderr }

// Exec runs name to completion within timeout, with the test's
// environment plus env, and stdin when not nil. It never fails the test,
// so goroutines may call it; the child dies with the test process.
func Exec(timeout time.Duration, env []string, stdin []byte, name string, args ...string) Result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	testproc.DieWithParent(cmd)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	res := Result{Stdout: out.String(), Stderr: errb.String(), Err: err}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
	default:
		res.Code = -1
	}
	if ctx.Err() != nil {
		res.Code, res.Err = -1, fmt.Errorf("timed out after %s: %w", timeout, ctx.Err())
	}
	return res
}

// MustExec runs name (at most 2 minutes) and fails the test unless it
// exits 0; it returns what it printed on stdout.
func MustExec(t testing.TB, env []string, stdin []byte, name string, args ...string) string {
	t.Helper()
	r := Exec(2*time.Minute, env, stdin, name, args...)
	if r.Err != nil {
		t.Fatalf("%s %s: %v (exit %d)\nstdout: %.2000s\nstderr: %.2000s", filepath.Base(name), strings.Join(args, " "), r.Err, r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// KilledBySignal reports whether err says SIGKILL ended the process (a
// failpoint fired, or a test killed it).
func KilledBySignal(err error) bool {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok {
			return ws.Signaled() && ws.Signal() == syscall.SIGKILL
		}
	}
	return false
}

// FreeAddr returns a loopback address whose port was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pick a port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Tail returns the last n lines of a file, for failure messages.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// KeepLog prints the tail of a process log when the test failed and, if
// $E2E_LOGDIR is set (the name comes from tests/e2e, where it began),
// copies the log there when the test ends.
func KeepLog(t testing.TB, path string) {
	t.Cleanup(func() {
		name := filepath.Base(path)
		if t.Failed() {
			t.Logf("tail of %s:\n%s", name, Tail(path, 40))
		}
		if out := os.Getenv("E2E_LOGDIR"); out != "" {
			if b, err := os.ReadFile(path); err == nil {
				os.MkdirAll(out, 0o755)
				os.WriteFile(filepath.Join(out, strings.ReplaceAll(t.Name(), "/", "_")+"-"+filepath.Base(filepath.Dir(path))+"-"+name), b, 0o644)
			}
		}
	})
}

// VmHWM returns a process's peak resident set size in bytes, from
// /proc/<pid>/status (Linux), or 0 when it cannot be read.
func VmHWM(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
