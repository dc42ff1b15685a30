//go:build !windows

package fileperm_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"stationsync/internal/fileperm"
)

// Whatever mode a file or folder starts with (every one of the 512, as an
// older release, an editor or a copy may leave them), Restrict and Dir
// leave no group or other bit, keep the owner's, and Private agrees.
func TestEveryModeClosed(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	for mode := os.FileMode(0); mode <= 0o777; mode++ {
		p := filepath.Join(dir, "f")
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		if err := fileperm.Restrict(p); err != nil {
			t.Fatalf("%o: %v", mode, err)
		}
		st, _ := os.Stat(p)
		if got := st.Mode().Perm(); got&0o077 != 0 || got&0o700 != mode&0o700 {
			t.Fatalf("file %o became %o", mode, got)
		}
		if ok, err := fileperm.Private(p); !ok || err != nil {
			t.Fatalf("file %o: Private %v %v", mode, ok, err)
		}
		os.Remove(p)

		d := filepath.Join(dir, "d")
		os.Mkdir(d, 0o700)
		inner := filepath.Join(d, "sub", "x.db")
		os.MkdirAll(filepath.Dir(inner), 0o700)
		os.WriteFile(inner, nil, 0o600)
		os.Chmod(inner, mode|0o600)
		os.Chmod(filepath.Dir(inner), mode|0o700)
		os.Chmod(d, mode|0o700)
		if err := fileperm.Dir(d); err != nil {
			t.Fatalf("dir %o: %v", mode, err)
		}
		for _, p := range []string{d, filepath.Dir(inner), inner} {
			st, _ := os.Stat(p)
			if st.Mode().Perm()&0o077 != 0 {
				t.Fatalf("dir %o: %s is %o", mode, p, st.Mode().Perm())
			}
		}
		if st, _ := os.Stat(d); st.Mode().Perm() != 0o700 {
			t.Fatalf("dir %o became %o", mode, st.Mode().Perm())
		}
		os.RemoveAll(d)
	}
	// A missing file is no error; Create makes a private one under any umask.
	if err := fileperm.Restrict(filepath.Join(dir, "missing")); err != nil {
		t.Fatal(err)
	}
	syscall.Umask(0)
	p := filepath.Join(dir, "new.db")
	if err := fileperm.Create(p); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Fatalf("created %o", st.Mode().Perm())
	}
}
