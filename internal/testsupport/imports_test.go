package testsupport

import (
	"os/exec"
	"strings"
	"testing"
)

// Only tests import the test helpers, so none of them ships: a package's
// .Imports, as go list prints them, leave out its _test.go files.
func TestOnlyTestsImport(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}:{{range .Imports}} {{.}}{{end}}`, "stationsync/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	helpers := []string{"stationsync/internal/testsupport", "stationsync/internal/testsupport/layout", "stationsync/internal/testproc"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ":")
		if strings.HasPrefix(pkg, "stationsync/internal/test") {
			continue
		}
		for _, imp := range strings.Fields(imports) {
			for _, h := range helpers {
				if imp == h {
					t.Errorf("%s imports %s outside its _test.go files: it would ship", pkg, h)
				}
			}
		}
	}
}
