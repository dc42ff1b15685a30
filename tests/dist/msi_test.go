//go:build dist

package dist

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// msiRows exports one table of the MSI as rows of tab-separated columns
// (msiinfo's first three lines are the column names, types and key).
func msiRows(t *testing.T, msi, table string) [][]string {
	t.Helper()
	out := run(t, "msiinfo", "export", msi, table)
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(out, "\r\n", "\n"), "\n"), "\n")
	var rows [][]string
	for _, l := range lines[min(3, len(lines)):] {
		rows = append(rows, strings.Split(l, "\t"))
	}
	return rows
}

func findRow(rows [][]string, col int, val string) []string {
	for _, r := range rows {
		if len(r) > col && r[col] == val {
			return r
		}
	}
	return nil
}

// The MSI's tables say what it does: the exe, the service (automatic,
// `run --service`, LocalSystem), its control (start on install, stop on
// install and uninstall, delete on uninstall), the desktop shortcut
// opening the pages, the Event Log source, and the upgrade code that lets
// a newer MSI replace an older one.
func TestMSITables(t *testing.T) {
	msi := one(t, "station-agent-*-x64.msi")
	if r := findRow(msiRows(t, msi, "File"), 2, "station-agent.exe"); r == nil {
		t.Fatal("File: no station-agent.exe")
	}
	svc := findRow(msiRows(t, msi, "ServiceInstall"), 1, "station-agent")
	must(t, svc != nil, "ServiceInstall: no station-agent")
	// Name DisplayName ServiceType StartType ErrorControl LoadOrderGroup Dependencies StartName Password Arguments
	must(t, svc[3] == "16" && svc[4] == "2" && svc[5] == "1", "service type/start/error = %v, want own process, auto start, normal", svc[3:6])
	must(t, svc[8] == "LocalSystem" && svc[10] == "run --service", "account %q args %q", svc[8], svc[10])
	ctl := findRow(msiRows(t, msi, "ServiceControl"), 1, "station-agent")
	must(t, ctl != nil && ctl[2] == "163", "ServiceControl event %v, want 163 (start on install, stop both, delete on uninstall)", ctl)
	sc := findRow(msiRows(t, msi, "Shortcut"), 0, "StationPagesShortcut")
	must(t, sc != nil && sc[1] == "DesktopFolder" && sc[4] == "[INSTALLDIR]station-agent.exe" && sc[5] == "open", "Shortcut row %v", sc)
	must(t, sc[2] == "CUNZHA~1|村站通", "shortcut name %q, want the Chinese 村站通", sc[2])
	up := msiRows(t, msi, "Upgrade")
	must(t, len(up) == 2 && strings.EqualFold(up[0][0], "{22116f3c-6054-4b79-9504-93f97a5df677}"), "Upgrade rows %v", up)
	prop := findRow(msiRows(t, msi, "Property"), 0, "UpgradeCode")
	must(t, prop != nil && strings.EqualFold(prop[1], "{22116f3c-6054-4b79-9504-93f97a5df677}"), "UpgradeCode property %v", prop)
	must(t, findRow(msiRows(t, msi, "Property"), 0, "ALLUSERS") != nil, "not a per-machine install")
	reg := msiRows(t, msi, "Registry")
	found := false
	for _, r := range reg {
		if len(r) > 3 && strings.Contains(r[2], `EventLog\Application\station-agent`) && r[3] == "EventMessageFile" {
			found = true
		}
	}
	must(t, found, "no Event Log source in Registry: %v", reg)
	// Names must survive wixl (non-ASCII ones come out empty).
	must(t, svc[2] != "" && sc[2] != "" && findRow(msiRows(t, msi, "Property"), 0, "ProductName")[1] != "", "an empty name: service %q shortcut %q", svc[2], sc[2])
}

// Both the exe and the MSI carry a valid Authenticode signature (the test
// certificate of tests/dist/run.sh); the exe inside the MSI is the signed
// one; a byte changed in either makes verification fail.
func TestSignatures(t *testing.T) {
	ca := os.Getenv("TEST_SIGN_CERT")
	if ca == "" {
		t.Skip("TEST_SIGN_CERT not set: run through make test-dist")
	}
	msi := one(t, "station-agent-*-x64.msi")
	exe := filepath.Join(distDir, "station-agent.exe")
	verify := func(p string) (string, error) { return runErr("osslsigncode", "verify", "-CAfile", ca, "-in", p) }
	for _, p := range []string{exe, msi} {
		if out, err := verify(p); err != nil {
			t.Fatalf("verify %s: %v\n%s", filepath.Base(p), err, out)
		}
	}
	dir := t.TempDir()
	run(t, "msiextract", "-C", dir, msi)
	inner, _ := filepath.Glob(filepath.Join(dir, "*", "*", "station-agent.exe"))
	if len(inner) == 0 {
		inner, _ = filepath.Glob(filepath.Join(dir, "**", "station-agent.exe"))
	}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Name() == "station-agent.exe" {
			inner = []string{p}
		}
		return nil
	})
	must(t, len(inner) == 1, "station-agent.exe not found in the MSI")
	if out, err := verify(inner[0]); err != nil {
		t.Fatalf("the exe inside the MSI is not signed: %v\n%s", err, out)
	}

	tamper := func(src, marker string, at int) string {
		b, err := os.ReadFile(src)
		must(t, err == nil, "%v", err)
		i := at
		if marker != "" {
			i = bytes.Index(b, []byte(marker))
			must(t, i >= 0, "marker %q not in %s", marker, src)
			i += 4096
		}
		b[i] ^= 0xff
		p := filepath.Join(dir, "tampered-"+filepath.Base(src))
		must(t, os.WriteFile(p, b, 0o644) == nil, "write")
		return p
	}
	// A byte in the middle of the program's code; a byte inside the MSI's
	// embedded cabinet (the exe it installs).
	st, _ := os.Stat(exe)
	for _, p := range []string{tamper(exe, "", int(st.Size()/2)), tamper(msi, "MSCF", 0)} {
		if out, err := verify(p); err == nil {
			t.Fatalf("tampered %s still verifies:\n%s", filepath.Base(p), out)
		}
	}
}
