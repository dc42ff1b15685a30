//go:build !windows

package fileperm

import "os"

func restrict(path string, dir bool) error {
	st, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if st.Mode()&os.ModeSymlink != 0 {
		return nil
	}
	want := st.Mode().Perm() &^ 0o077
	if dir {
		want = 0o700
	}
	if st.Mode().Perm() == want {
		return nil
	}
	return os.Chmod(path, want)
}

func private(path string) (bool, error) {
	st, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	return st.Mode().Perm()&0o077 == 0, nil
}
