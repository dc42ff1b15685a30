//go:build dist

package dist

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// winePrefix is one Wine prefix for the run, with the test-only
// ProcessPrng stand-in (Wine 8.0 lacks bcryptprimitives!ProcessPrng,
// which Go ≥ 1.22 needs at start; it is never shipped) and a persistent
// wineserver: without one, the prefix shuts down, services included,
// seconds after the last Wine program ends.
//
// The prefix is created with `wineboot -u`, never `wineboot -i`: the first
// Wine program in a new prefix already runs `wineboot --init` itself,
// which starts services.exe, and an explicit `-i` runs the init again and
// starts a second services.exe (wineboot.c calls start_services_process
// whenever init is set; services.exe does not refuse a second instance).
// Both then answer \pipe\svcctl, each with its own in-memory service list
// read from the registry when it started, and a client lands on either:
// msiexec's InstallServices created the service in one, StartServices
// opened it in the other and got 1060 "service does not exist", and the
// install rolled back (`wine sc query` alternated between found and not
// found). That was the whole failure of issue 5 (a prefix restarted by
// hand has one services.exe, which is presumably why it worked there).
// newWinePrefix checks that exactly one services.exe serves the prefix.
type winePrefix struct {
	t    *testing.T
	dir  string
	home string
	env  []string
}

func newWinePrefix(t *testing.T) *winePrefix {
	t.Helper()
	dir := t.TempDir()
	// HOME too: Wine links the prefix's desktop folders to the Unix home,
	// where the MSI's shortcut would otherwise land, outside the test.
	w := &winePrefix{t: t, dir: dir, home: t.TempDir(), env: append(os.Environ(), "WINEPREFIX="+dir, "WINEDEBUG=-all",
		"WINEDLLOVERRIDES=bcryptprimitives=n,b;mscoree,mshtml=", "DISPLAY=")}
	w.env = append(w.env, "HOME="+w.home)
	// Persistent from the start (after wineboot it would be too late).
	w.cmd("wineserver", "-p")
	t.Cleanup(w.close)
	// -u, not -i: see the type's comment.
	w.wine("wineboot", "-u")
	run(t, "x86_64-w64-mingw32-gcc", "-O2", "-shared", "-o", filepath.Join(dir, "drive_c/windows/system32/bcryptprimitives.dll"),
		"testdata/prng/prng.c", "testdata/prng/prng.def", "-ladvapi32")
	w.wine("reg", "add", `HKCU\Software\Wine\DllOverrides`, "/v", "bcryptprimitives", "/d", "native,builtin", "/f")
	waitFor(t, "services.exe in the new prefix", 30*time.Second, func() bool { return len(w.pids("services.exe")) > 0 })
	if n := len(w.pids("services.exe")); n != 1 {
		t.Fatalf("%d services.exe serve the prefix, want 1: the service manager would answer from two service lists (see winePrefix)", n)
	}
	return w
}

// pids are the processes of this prefix (WINEPREFIX in their environment)
// whose command line contains name ("" for all of them): other Wine
// prefixes on the machine are never touched.
func (w *winePrefix) pids(name string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !slices.Contains(strings.Split(string(env), "\x00"), "WINEPREFIX="+w.dir) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.Contains(string(cmdline), name) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// close ends the prefix's wineserver and with it every process of the
// prefix, then kills by PID whatever of this prefix is left.
func (w *winePrefix) close() {
	w.cmdErr("wineserver", "-k")
	deadline := time.Now().Add(10 * time.Second)
	for len(w.pids("")) > 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	for _, pid := range w.pids("") {
		if p, err := os.FindProcess(pid); err == nil {
			p.Kill()
		}
	}
}

func (w *winePrefix) cmdErr(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, name, args...)
	c.Env = w.env
	// A file, not a pipe: wineserver and services outlive the command and
	// would hold a pipe open.
	f, err := os.CreateTemp(w.dir, "out-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	c.Stdout, c.Stderr = f, f
	c.WaitDelay = 5 * time.Second
	err = c.Run()
	out, _ := os.ReadFile(f.Name())
	return string(out), err
}

func (w *winePrefix) cmd(name string, args ...string) string {
	w.t.Helper()
	out, err := w.cmdErr(name, args...)
	if err != nil {
		w.t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return out
}

func (w *winePrefix) wine(args ...string) string {
	w.t.Helper()
	return w.cmd("wine", args...)
}

func (w *winePrefix) path(win string) string {
	return filepath.Join(w.dir, "drive_c", filepath.FromSlash(strings.ReplaceAll(strings.TrimPrefix(win, `C:\`), `\`, "/")))
}

// serviceState is sc query's STATE word, or "" if the service is gone.
func (w *winePrefix) serviceState() string {
	out, _ := w.cmdErr("wine", "sc", "query", "station-agent")
	m := regexp.MustCompile(`STATE\s*:\s*\d+\s+(\w+)`).FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	return m[1]
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// county is a Linux county server on loopback that can be stopped and
// started again on the same address.
type county struct {
	t         *testing.T
	bin, data string
	addr      string
	proc      *exec.Cmd
}

func (c *county) start() {
	c.proc = exec.Command(c.bin, "serve", "--data", c.data, "--listen", c.addr)
	if err := c.proc.Start(); err != nil {
		c.t.Fatal(err)
	}
	// Stopped even if it never answers below; stop is idempotent.
	c.t.Cleanup(c.stop)
	waitFor(c.t, "the county server", 30*time.Second, func() bool {
		_, err := runErr("curl", "-sf", "http://"+c.addr+"/healthz")
		return err == nil
	})
}

func (c *county) stop() {
	if c.proc != nil {
		stopTree(c.t, c.proc)
		c.proc = nil
	}
}

func (c *county) has(name string) bool {
	out, err := runErr(c.bin, "records", "--kind", "person", "--data", c.data)
	return err == nil && strings.Contains(out, name)
}

// Windows end to end under Wine: the signed MSI installs and starts the
// service; a record added at the station reaches a Linux county server on
// loopback; a newer MSI upgrades the station while a change is still
// pending (the county is down), and the change arrives afterwards;
// uninstall removes the service and keeps the data.
//
// It runs in a fresh prefix every time; the 1060 "service does not exist"
// that once rolled back msiexec's install was the test's own prefix set-up
// starting two services.exe (see winePrefix), not the MSI.
func TestWindowsEndToEndUnderWine(t *testing.T) {
	msi := one(t, "station-agent-*-x64.msi")
	build := filepath.Join(distDir, ".build", "windows-amd64")
	w := newWinePrefix(t)

	c := &county{t: t, bin: filepath.Join(distDir, ".build/linux-amd64/county-server"), data: filepath.Join(t.TempDir(), "county"), addr: freeAddr(t)}
	code := strings.TrimSpace(run(t, c.bin, "station", "add", "--village", village, "--data", c.data))
	c.start()

	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(w.path(`C:\ProgramData\stationsync\station\station-agent.log`))
			t.Logf("the service's log:\n%s", log)
		}
	})

	t0 := time.Now()
	w.wine("msiexec", "/i", winPath(msi), "/qn")
	waitFor(t, "the service to run", 60*time.Second, func() bool { return w.serviceState() == "RUNNING" })
	t.Logf("msiexec /i and service running: %v", time.Since(t0).Round(time.Millisecond))
	first := w.installed()
	must(t, len(first) == 1, "installed stationsync products: %v, want one", first)
	// The desktop shortcut carries its Chinese name (set in the MSI after
	// wixl, which writes only ASCII).
	// Stat follows the desktop folder's link (to HOME, see newWinePrefix).
	desktops, _ := filepath.Glob(filepath.Join(w.path(`C:\users`), "*", "Desktop"))
	var found []string
	for _, d := range append(desktops, w.home) {
		if _, err := os.Stat(filepath.Join(d, "村站通.lnk")); err == nil {
			found = append(found, d)
		}
	}
	must(t, len(found) > 0, "no desktop shortcut 村站通.lnk in %v", append(desktops, w.home))
	// Wine's msiexec writes the path unquoted; the service quotes it.
	quoted := func() {
		waitFor(t, "a quoted ImagePath", 30*time.Second, func() bool {
			out, _ := w.cmdErr("wine", "reg", "query", `HKLM\System\CurrentControlSet\Services\station-agent`, "/v", "ImagePath")
			return strings.Contains(out, `"C:\Program Files\stationsync\station-agent.exe" run --service`)
		})
	}
	quoted()

	exe := `C:\Program Files\stationsync\station-agent.exe`
	agent := func(args ...string) string { return w.wine(append([]string{exe}, args...)...) }
	recFile := func(name string) string {
		p := writeTemp(t, `{"name":"`+name+`","id_number":"340123195001010018","categories":["农村留守老年人"]}`)
		return winPath(p)
	}
	t.Logf("enroll: %s", agent("enroll", "--server", "http://"+c.addr, "--code", code))
	agent("add", "--kind", "person", "--file", recFile("温州"))
	waitFor(t, "the record at the county", 90*time.Second, func() bool { return c.has("温州") })
	t.Logf("record reached the county: %v after install", time.Since(t0).Round(time.Millisecond))

	// Upgrade while a change is pending: the county is down.
	c.stop()
	agent("add", "--kind", "person", "--file", recFile("升级中"))
	var st struct{ Pending int }
	json.Unmarshal([]byte(agent("status", "--json")), &st)
	must(t, st.Pending == 1, "pending before upgrade = %d", st.Pending)
	next := nextMSI(t, build, msi)
	w.wine("msiexec", "/i", winPath(next), "/qn")
	waitFor(t, "the upgraded service to run", 60*time.Second, func() bool { return w.serviceState() == "RUNNING" })
	quoted()
	// A major upgrade, not a second product beside the first.
	got := w.installed()
	must(t, slices.Equal(got, []string{nextVersion(t, msi)}), "installed stationsync products after the upgrade: %v, want only %s", got, nextVersion(t, msi))
	c.start()
	waitFor(t, "the change pending across the upgrade at the county", 120*time.Second, func() bool { return c.has("升级中") })
	// doctor's data-directory check fails under Wine: the folder shows
	// Wine's default DACL (Everyone may read), not the protected one
	// PrepareDataDir sets; only real Windows can confirm it (README).
	doctor, _ := w.cmdErr("wine", exe, "doctor")
	t.Logf("doctor:\n%s", doctor)
	must(t, strings.Contains(doctor, "✔ 服务"), "doctor does not see the service running")

	// Uninstall: the service goes, the data stays.
	w.wine("msiexec", "/x", winPath(next), "/qn")
	waitFor(t, "the service to be removed", 60*time.Second, func() bool { return w.serviceState() == "" })
	_, err := os.Stat(w.path(exe))
	must(t, os.IsNotExist(err), "exe still installed: %v", err)
	for _, f := range []string{"station.db", "station.key", "station-agent.log"} {
		_, err := os.Stat(w.path(`C:\ProgramData\stationsync\station\` + f))
		must(t, err == nil, "uninstall lost %s: %v", f, err)
	}
}

// installed lists the DisplayVersion of every installed product named
// stationsync, from the Uninstall keys Windows Installer writes.
func (w *winePrefix) installed() []string {
	out, _ := w.cmdErr("wine", "reg", "query", `HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall`, "/s")
	var versions []string
	// reg query /s prints each key's name, then its values, then a blank line.
	for _, key := range strings.Split(strings.ReplaceAll(out, "\r", ""), "\n\n") {
		if !regexp.MustCompile(`(?m)^\s+DisplayName\s+REG_SZ\s+stationsync`).MatchString(key) {
			continue
		}
		v := regexp.MustCompile(`(?m)^\s+DisplayVersion\s+REG_SZ\s+(\S+)`).FindStringSubmatch(key)
		if v == nil {
			versions = append(versions, "?")
		} else {
			versions = append(versions, v[1])
		}
	}
	return versions
}

// nextVersion is the version after the MSI's (patch + 1).
func nextVersion(t *testing.T, msi string) string {
	m := regexp.MustCompile(`-(\d+)\.(\d+)\.(\d+)-x64\.msi$`).FindStringSubmatch(msi)
	must(t, m != nil, "version in %s", msi)
	patch, _ := strconv.Atoi(m[3])
	return m[1] + "." + m[2] + "." + strconv.Itoa(patch+1)
}

// nextMSI builds the same program as a newer MSI version (same
// UpgradeCode), as the next release would be.
func nextMSI(t *testing.T, build, msi string) string {
	version := nextVersion(t, msi)
	dir := t.TempDir()
	copyFile(t, filepath.Join(build, "station-agent.exe"), filepath.Join(dir, "station-agent.exe"))
	copyFile(t, filepath.Join(repo, "installer/packaging/station-agent.wxs"), filepath.Join(dir, "station-agent.wxs"))
	c := exec.Command("wixl", "-a", "x64", "-D", "Version="+version, "-o", "next.msi", "station-agent.wxs")
	c.Dir = dir
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("wixl: %v\n%s", err, out)
	}
	return filepath.Join(dir, "next.msi")
}

// winPath is a Linux path as Wine's Z: drive shows it (msiexec would read
// "/tmp/…" as an option).
func winPath(p string) string { return "Z:" + strings.ReplaceAll(p, "/", `\`) }
