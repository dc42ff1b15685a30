package installer

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"text/template"
)

// The units fix what kardianos' template gets wrong (LESSONS): restart
// always after 5 s, no start-rate limit (in [Unit], where systemd reads
// it), after the network is up, and the exact command `run --service`.
func TestUnitsHandlePitfalls(t *testing.T) {
	for _, name := range []string{"station-agent", "county-server"} {
		t.Run(name, func(t *testing.T) {
			u := Unit(name)
			unitSec, serviceSec, _ := strings.Cut(u, "[Service]")
			for _, want := range []string{"After=network-online.target", "Wants=network-online.target", "StartLimitIntervalSec=0"} {
				if !strings.Contains(unitSec, want+"\n") {
					t.Errorf("[Unit] lacks %s", want)
				}
			}
			for _, want := range []string{"Restart=always", "RestartSec=5", "User=stationsync", "StateDirectoryMode=0700", "ExecStart=/usr/bin/" + name + " "} {
				if !strings.Contains(serviceSec, want) {
					t.Errorf("[Service] lacks %s", want)
				}
			}
			if !strings.Contains(serviceSec, " --service ") {
				t.Error("ExecStart does not run the service mode")
			}
		})
	}
}

// The command-line install writes the same unit with the program's own
// path and arguments, rendered as kardianos renders it.
func TestUnitTemplateRenders(t *testing.T) {
	tmpl := UnitTemplate("station-agent")
	funcs := template.FuncMap{
		"cmd":       func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` },
		"cmdEscape": func(s string) string { return strings.ReplaceAll(s, " ", `\x20`) },
	}
	tp := template.Must(template.New("").Funcs(funcs).Parse(tmpl))
	var b strings.Builder
	err := tp.Execute(&b, map[string]any{"Path": "/opt/my station/station-agent", "Arguments": []string{"run", "--service", "--data", "/srv/st"}, "UserName": ""})
	if err != nil {
		t.Fatal(err)
	}
	got := b.String()
	if !strings.Contains(got, `ExecStart=/opt/my\x20station/station-agent "run" "--service" "--data" "/srv/st"`) {
		t.Fatalf("ExecStart not rendered:\n%s", got)
	}
	if strings.Contains(got, "User=") {
		t.Fatalf("User= without an account:\n%s", got)
	}
	if !strings.Contains(got, "RestartSec=5") {
		t.Fatal("unit lost its restart settings")
	}
}

func TestServiceConfig(t *testing.T) {
	s := StationService("/usr/bin/station-agent", "/var/lib/stationsync/station")
	if got, want := strings.Join(s.Args, " "), "run --service --data /var/lib/stationsync/station"; got != want {
		t.Fatalf("args %q, want %q", got, want)
	}
	c := s.config()
	if c.Option["OnFailure"] != "restart" || c.Option["OnFailureDelayDuration"] != "5s" {
		t.Fatalf("Windows recovery not set: %v", c.Option)
	}
	if len(c.Dependencies) != 0 {
		t.Fatalf("Dependencies mean different things per OS (kardianos#173): %v", c.Dependencies)
	}
	if c.WorkingDirectory != "" {
		t.Fatal("working directory set")
	}
}

func TestPrepareAndCheckDataDir(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("ACLs are checked under Wine by tests/dist")
	}
	dir := filepath.Join(t.TempDir(), "station")
	if err := PrepareDataDir(dir, ""); err != nil {
		t.Fatal(err)
	}
	if ok, answer := CheckDataDir(dir); !ok {
		t.Fatalf("fresh data dir refused: %s", answer)
	}
	os.Chmod(dir, 0o755)
	if ok, answer := CheckDataDir(dir); ok || !strings.Contains(answer, "755") {
		t.Fatalf("world-readable dir passed: %s", answer)
	}
	if err := PrepareDataDir(dir, ""); err != nil {
		t.Fatal(err)
	}
	if ok, _ := CheckDataDir(dir); !ok {
		t.Fatal("install did not repair the permissions")
	}
	// A file another account could read is named, and install closes it.
	db := filepath.Join(dir, "station.db")
	os.WriteFile(db, nil, 0o600)
	os.Chmod(db, 0o644)
	if ok, answer := CheckDataDir(dir); ok || !strings.Contains(answer, "station.db") || !strings.Contains(answer, "644") {
		t.Fatalf("world-readable file passed: %s", answer)
	}
	if err := PrepareDataDir(dir, ""); err != nil {
		t.Fatal(err)
	}
	if ok, answer := CheckDataDir(dir); !ok {
		t.Fatalf("install did not close the file: %s", answer)
	}
	if free, err := DiskFree(dir); err != nil || free == 0 {
		t.Fatalf("DiskFree = %d, %v", free, err)
	}
}
