//go:build !windows

package installer

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"stationsync/internal/atomicfile"
	"stationsync/internal/fileperm"
)

// PrepareDataDir creates dir readable by the service account only (0700,
// files 0600, owned by account if given, files inside too).
func PrepareDataDir(dir, account string) error {
	if err := atomicfile.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	if err := fileperm.Dir(dir); err != nil {
		return fmt.Errorf("data directory permissions: %w", err)
	}
	if account == "" {
		return nil
	}
	u, err := user.Lookup(account)
	if err != nil {
		return fmt.Errorf("service account: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// CheckDataDir says whether only the service account (and root) can read
// dir.
func CheckDataDir(dir string) (ok bool, answer string) {
	st, err := os.Stat(dir)
	if err != nil {
		return false, "数据目录不存在或无法读取：" + err.Error()
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return false, fmt.Sprintf("数据目录 %s 权限为 %o，其他用户也能读取；应为 700（运行 install 可修复）", dir, perm)
	}
	// The files too: a database or log copied in by hand keeps its 0644.
	var open string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || open != "" {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.Mode()&fs.ModeSymlink == 0 && fi.Mode().Perm()&0o077 != 0 {
			open = fmt.Sprintf("%s（权限 %o）", p, fi.Mode().Perm())
		}
		return nil
	})
	if open != "" {
		return false, "数据目录里的文件 " + open + " 其他用户也能读取；应为 600（重启服务或运行 install 可修复）"
	}
	owner := "root"
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		if u, err := user.LookupId(strconv.Itoa(int(sys.Uid))); err == nil {
			owner = u.Username
		}
	}
	return true, fmt.Sprintf("数据目录 %s 只有 %s 可以读取", dir, owner)
}

// DiskFree is the space available to the service in dir's filesystem.
func DiskFree(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}
