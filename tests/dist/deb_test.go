//go:build dist

package dist

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

const (
	stationData = "/var/lib/stationsync/station"
	countyData  = "/var/lib/stationsync/county"
	village     = "340123101201"
)

// The station .deb on this machine (dpkg, as root): data made by the
// previous release is there before the package comes (a command-line
// install of that release, run as root); install, upgrade in place,
// remove and purge, and the data with its 141 pending changes survives
// everything and reaches a county installed from the county .deb.
func TestDebInstallUpgradePurge(t *testing.T) {
	needRoot(t)
	station := one(t, "station-agent_*_amd64.deb")
	county := one(t, "county-server_*_amd64.deb")
	cleanup := func() {
		for pid := range leftovers() {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		if _, err := os.Stat("/run/systemd/system"); err == nil {
			runErr("systemctl", "stop", "station-agent", "county-server")
		}
		runErr("dpkg", "--purge", "station-agent", "county-server")
		os.RemoveAll("/var/lib/stationsync")
	}
	cleanup()
	// After the test, passed or failed (t.Cleanup runs after the county
	// startCounty started is stopped): no program of the packages is left
	// running, and no package, unit or data directory stays.
	t.Cleanup(func() {
		for pid, cmd := range leftovers() {
			t.Errorf("left running after the test: %d %s", pid, cmd)
		}
		cleanup()
		for _, p := range []string{"/usr/bin/station-agent", "/usr/bin/county-server", "/var/lib/stationsync",
			"/etc/systemd/system/multi-user.target.wants/station-agent.service", "/etc/systemd/system/multi-user.target.wants/county-server.service"} {
			if _, err := os.Lstat(p); err == nil {
				t.Errorf("%s left behind after purge", p)
			}
		}
		if out, _ := runErr("dpkg-query", "-W", "-f", "${Package} ${Status}\n", "station-agent", "county-server"); strings.Contains(out, " installed") || strings.Contains(out, "config-files") {
			t.Errorf("packages left after purge:\n%s", out)
		}
	})

	// The previous release's data, left by root.
	must(t, os.MkdirAll(stationData, 0o755) == nil, "mkdir")
	copyFile(t, filepath.Join(repo, "internal/sqlitedb/testdata/station-prev.db"), filepath.Join(stationData, "station.db"))

	// First an older package of the station (version 0.0.1), as the
	// previous release's would be; the upgrade to this one comes below.
	out := run(t, "dpkg", "-i", olderDeb(t, "station-agent", "amd64"), county)
	t.Logf("dpkg -i:\n%s", out)
	// No systemd as PID 1 here: the scripts must not have called it.
	must(t, !strings.Contains(out, "System has not been booted with systemd"), "maintainer script called systemctl without systemd")
	run(t, "getent", "passwd", "stationsync")
	st, err := os.Stat(stationData)
	must(t, err == nil && st.Mode().Perm() == 0o700, "data dir mode %v, %v", st.Mode(), err)
	owner := run(t, "stat", "-c", "%U", stationData, filepath.Join(stationData, "station.db"))
	must(t, strings.TrimSpace(owner) == "stationsync\nstationsync", "owners: %q", owner)
	// The unit as installed, with the binary in place.
	run(t, "systemd-analyze", "verify", "--man=no", "/usr/lib/systemd/system/station-agent.service", "/usr/lib/systemd/system/county-server.service")
	// Enabled for the next boot even without a running systemd.
	_, err = os.Lstat("/etc/systemd/system/multi-user.target.wants/station-agent.service")
	must(t, err == nil, "unit not enabled: %v", err)

	as := func(args ...string) string {
		return run(t, "runuser", append([]string{"-u", "stationsync", "--", "/usr/bin/station-agent"}, append(args, "--data", stationData)...)...)
	}
	statusJSON := func() map[string]any {
		var m map[string]any
		s := as("status", "--json")
		must(t, json.Unmarshal([]byte(s), &m) == nil, "status --json: %s", s)
		return m
	}
	// The new binary migrates the previous release's database (with a copy
	// first) and finds every change.
	must(t, statusJSON()["pending"] == float64(141), "pending after install: %v", statusJSON())
	baks, _ := filepath.Glob(filepath.Join(stationData, "station.db.before-*.bak"))
	migs, _ := os.ReadDir(filepath.Join(repo, "agent/migrations"))
	if len(migs) > 1 {
		must(t, len(baks) == 1, "no copy before migrating: %v", baks)
	}

	// Upgrade in place from 0.0.1: data, key and config stay.
	as("add", "--kind", "person", "--file", writeTemp(t, `{"name":"升级前","id_number":"340123195001010018","categories":["农村留守老年人"]}`))
	out = run(t, "dpkg", "-i", station)
	t.Logf("upgrade:\n%s", out)
	must(t, strings.Contains(out, "over (0.0.1)"), "not an upgrade from 0.0.1:\n%s", out)
	must(t, statusJSON()["pending"] == float64(142), "pending after upgrade: %v", statusJSON())

	// County from its .deb, on loopback, as the service account.
	code := strings.TrimSpace(run(t, "runuser", "-u", "stationsync", "--", "/usr/bin/county-server", "station", "add", "--village", village, "--data", countyData))
	url := startCounty(t, countyData, "runuser", "-u", "stationsync", "--", "/usr/bin/county-server")
	// --yes: the 142 records made before enrolment go up without the
	// pages' confirmation of the county (the installer checked it).
	as("enroll", "--server", url, "--code", code, "--yes")
	as("sync")
	must(t, statusJSON()["pending"] == float64(0), "pending after sync: %v", statusJSON())
	recs := run(t, "runuser", "-u", "stationsync", "--", "/usr/bin/county-server", "records", "--kind", "person", "--data", countyData)
	must(t, strings.Contains(recs, "升级前"), "record added after the upgrade not at the county")

	// Remove, then purge: the program goes, the data stays.
	run(t, "dpkg", "-r", "station-agent")
	_, err = os.Stat("/usr/bin/station-agent")
	must(t, os.IsNotExist(err), "binary still there after remove")
	_, err = os.Stat(filepath.Join(stationData, "station.db"))
	must(t, err == nil, "data removed with the package: %v", err)
	out = run(t, "dpkg", "--purge", "station-agent")
	_, err = os.Stat(filepath.Join(stationData, "station.key"))
	must(t, err == nil, "key removed by purge: %v", err)
	must(t, strings.Contains(out, "data kept"), "purge did not say the data is kept:\n%s", out)
	_, err = os.Lstat("/etc/systemd/system/multi-user.target.wants/station-agent.service")
	must(t, os.IsNotExist(err), "purge left the unit enabled")
}

// lintian: no errors and no warnings; what is deliberate is overridden in
// the package with its reason.
func TestDebLintian(t *testing.T) {
	debs, _ := filepath.Glob(filepath.Join(distDir, "*.deb"))
	must(t, len(debs) >= 2, "no .debs in %s", distDir)
	out, err := runErr("lintian", append([]string{"--fail-on", "error,warning", "--tag-display-limit", "0"}, debs...)...)
	if err != nil {
		t.Fatalf("lintian: %v\n%s", err, out)
	}
	for _, d := range debs {
		t.Logf("%s: %s", filepath.Base(d), strings.TrimSpace(run(t, "dpkg-deb", "-f", d, "Architecture", "Version")))
	}
}

// The arm64 binaries are static and really ARM; the arm64 .deb says so.
func TestArm64Static(t *testing.T) {
	deb := one(t, "station-agent_*_arm64.deb")
	must(t, strings.TrimSpace(run(t, "dpkg-deb", "-f", deb, "Architecture")) == "arm64", "arch")
	dir := t.TempDir()
	run(t, "dpkg-deb", "-x", deb, dir)
	f := run(t, "file", "-b", filepath.Join(dir, "usr/bin/station-agent"))
	must(t, strings.Contains(f, "ARM aarch64") && strings.Contains(f, "statically linked"), "file: %s", f)
	for _, arch := range []string{"amd64", "arm64"} {
		st, _ := os.Stat(filepath.Join(distDir, ".build/linux-"+arch+"/station-agent"))
		if st != nil {
			t.Logf("linux-%s station-agent: %s bytes", arch, strconv.FormatInt(st.Size(), 10))
		}
	}
}

// The arm64 station binary (from the .deb), run under qemu-user, records,
// enrols and syncs with an amd64 county server on loopback.
func TestArm64RecordsAndSyncsUnderQemu(t *testing.T) {
	deb := one(t, "station-agent_*_arm64.deb")
	countyDeb := one(t, "county-server_*_amd64.deb")
	dir := t.TempDir()
	run(t, "dpkg-deb", "-x", deb, filepath.Join(dir, "arm"))
	run(t, "dpkg-deb", "-x", countyDeb, filepath.Join(dir, "county"))
	arm := filepath.Join(dir, "arm/usr/bin/station-agent")
	countyBin := filepath.Join(dir, "county/usr/bin/county-server")
	cdata, sdata := filepath.Join(dir, "cdata"), filepath.Join(dir, "sdata")
	code := strings.TrimSpace(run(t, countyBin, "station", "add", "--village", village, "--data", cdata))
	url := startCounty(t, cdata, countyBin)
	qemu := func(args ...string) string {
		return run(t, "qemu-aarch64-static", append([]string{arm}, append(args, "--data", sdata)...)...)
	}
	must(t, strings.Contains(run(t, "qemu-aarch64-static", arm, "version"), "0."), "version")
	qemu("add", "--kind", "person", "--by", "arm64", "--file", writeTemp(t, `{"name":"鲲鹏","id_number":"340123195001010018","categories":["农村留守老年人"]}`))
	qemu("enroll", "--server", url, "--code", code, "--yes")
	out := qemu("sync")
	t.Logf("arm64 sync: %s", out)
	recs := run(t, countyBin, "records", "--kind", "person", "--data", cdata)
	must(t, strings.Contains(recs, "鲲鹏"), "the arm64 station's record did not reach the county:\n%s", recs)
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	must(t, err == nil, "%v", err)
	defer in.Close()
	out, err := os.Create(dst)
	must(t, err == nil, "%v", err)
	_, err = io.Copy(out, in)
	must(t, err == nil && out.Close() == nil, "copy %s: %v", src, err)
}

// writeTemp writes s to a file the service account can read (test
// folders are 0700).
func writeTemp(t *testing.T, s string) string {
	f, err := os.CreateTemp("", "stationsync-rec-*.json")
	must(t, err == nil, "%v", err)
	t.Cleanup(func() { os.Remove(f.Name()) })
	f.WriteString(s)
	f.Close()
	os.Chmod(f.Name(), 0o644)
	return f.Name()
}

// olderDeb repackages what build.sh staged for prog as version 0.0.1, so
// that installing dist/'s package over it is a real dpkg upgrade.
func olderDeb(t *testing.T, prog, arch string) string {
	t.Helper()
	stage := filepath.Join(distDir, ".build", "stage-"+prog+"-"+arch)
	b, err := os.ReadFile(filepath.Join(stage, "nfpm.yaml"))
	must(t, err == nil, "staged nfpm config: %v (run make dist)", err)
	cfg := regexp.MustCompile(`(?m)^version: .*$`).ReplaceAllString(string(b), "version: 0.0.1")
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "nfpm.yaml"), []byte(cfg), 0o644) == nil, "write")
	out := filepath.Join(dir, prog+"_0.0.1_"+arch+".deb")
	run(t, filepath.Join(distDir, ".build", "tools", "nfpm"), "package", "--config", filepath.Join(dir, "nfpm.yaml"), "--packager", "deb", "--target", out)
	return out
}
