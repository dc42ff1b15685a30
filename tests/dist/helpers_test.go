//go:build dist

package dist

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// repo is the repository root; dist the packages' folder.
var (
	repo, _ = filepath.Abs("../..")
	distDir = envOr("DIST", filepath.Join(repo, "dist"))
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// run runs a command and returns its combined output; it fails the test
// on a non-zero exit.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := runErr(name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func runErr(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var b bytes.Buffer
	c := exec.CommandContext(ctx, name, args...)
	c.Stdout, c.Stderr = &b, &b
	err := c.Run()
	return b.String(), err
}

// one returns the single file matching pattern in dist/.
func one(t *testing.T, pattern string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(distDir, pattern))
	if len(m) != 1 {
		t.Fatalf("want one %s in %s, found %v (run make dist)", pattern, distDir, m)
	}
	return m[0]
}

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (dpkg)")
	}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startCounty starts a county server process (prefix: e.g. runuser …)
// on a free loopback port and waits until it answers.
func startCounty(t *testing.T, data string, prefix ...string) (url string) {
	t.Helper()
	addr := freeAddr(t)
	args := append(prefix[1:], "serve", "--data", data, "--listen", addr)
	c := exec.Command(prefix[0], args...)
	logf, _ := os.Create(filepath.Join(t.TempDir(), "county.log"))
	c.Stdout, c.Stderr = logf, logf
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopTree(t, c) })
	url = "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			return url
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(logf.Name())
	t.Fatalf("county server did not answer:\n%s", b)
	return ""
}

// stopTree stops a process started by a test and every process it
// started, even when the test failed. Killing runuser alone left the
// county server it runs behind: runuser does not pass SIGKILL on, and its
// child sits in a session of its own, out of reach of a process-group
// kill. So the descendants are found through /proc first, asked to stop
// (SIGTERM: the county closes its database), and killed if they have not
// within ten seconds.
func stopTree(t *testing.T, c *exec.Cmd) {
	t.Helper()
	if c.Process == nil {
		return
	}
	pids := append(descendants(c.Process.Pid), c.Process.Pid)
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && len(alive(pids)) > 0 {
		time.Sleep(100 * time.Millisecond)
	}
	for _, pid := range alive(pids) {
		t.Logf("process %d did not stop on SIGTERM; killed", pid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
	<-done
}

// descendants are the processes below pid, children first found.
func descendants(pid int) []int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp := ppid(p); pp > 0 {
			children[pp] = append(children[pp], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		for _, c := range children[queue[0]] {
			out = append(out, c)
			queue = append(queue, c)
		}
		queue = queue[1:]
	}
	return out
}

// ppid reads a process's parent from /proc/PID/stat (0 if it is gone).
func ppid(pid int) int {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// The command name in parentheses may hold spaces: the fields that
	// follow start after the last ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// alive are those of pids still running (a zombie counts as stopped).
func alive(pids []int) []int {
	var out []int
	for _, pid := range pids {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:])); len(f) > 0 && f[0] == "Z" {
			continue
		}
		out = append(out, pid)
	}
	return out
}

// leftovers are the processes running one of the installed programs
// (/usr/bin/station-agent, /usr/bin/county-server): after a test that
// installed them, none may be left.
func leftovers() map[int]string {
	out := map[int]string{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil {
			continue
		}
		exe = strings.TrimSuffix(exe, " (deleted)")
		if exe == "/usr/bin/station-agent" || exe == "/usr/bin/county-server" {
			cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			out[pid] = strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " ")
		}
	}
	return out
}

func count(s, sub string) int { return strings.Count(s, sub) }

func must(t *testing.T, cond bool, format string, args ...any) {
	t.Helper()
	if !cond {
		t.Fatalf(format, args...)
	}
}

var _ = fmt.Sprint
