package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// notKept names the product files allowed to write a file without this
// package, and why what they write need not survive a power cut.
var notKept = map[string]string{
	"internal/atomicfile/atomicfile.go":      "the helper itself",
	"internal/atomicfile/sync_notwindows.go": "the helper itself",
	"internal/logging/logging.go":            "log rotation: a log may lose its last lines, never a save",
	"internal/testclock/testclock.go":        "tests move the clock through it",
	"internal/testproc/testproc.go":          "test child processes' logs",
	"internal/testsupport/exec.go":           "copies of test processes' logs ($E2E_LOGDIR)",
	"internal/testsupport/layout/layout.go":  "screenshots of the pages under test",
	"installer/shortcut_windows.go":          "a desktop shortcut the installer makes again",
}

var rawWrite = regexp.MustCompile(`\b(os\.(WriteFile|Rename|Create)|ioutil\.WriteFile)\(`)

// Every file that must survive a power cut is written through this
// package: a plain os.WriteFile, os.Create or os.Rename in the product
// code is a file written in place, or a rename whose folder is never
// synced, which tests/powercut would one day catch the hard way.
func TestAtomicfileIsTheOnlyWayToWriteAFile(t *testing.T) {
	root := filepath.Join("..", "..")
	for _, top := range []string{"agent", "server", "cmd", "installer", "internal", "syncproto"} {
		filepath.WalkDir(filepath.Join(root, top), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			rel = filepath.ToSlash(rel)
			if notKept[rel] != "" {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				t.Error(err)
				return nil
			}
			for i, line := range strings.Split(string(b), "\n") {
				if rawWrite.MatchString(line) && !strings.HasPrefix(strings.TrimSpace(line), "//") {
					t.Errorf("%s:%d writes a file without atomicfile: %s", rel, i+1, strings.TrimSpace(line))
				}
			}
			return nil
		})
	}
}
