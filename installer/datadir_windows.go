package installer

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/windows"
)

// dataDirSDDL lets only LocalSystem (the service) and Administrators in,
// with inheritance to everything inside, and no ACEs inherited from
// ProgramData (where Users may read).
const dataDirSDDL = "D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

// PrepareDataDir creates dir readable by the service account and
// Administrators only. account is ignored: Windows services run as
// LocalSystem.
func PrepareDataDir(dir, account string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	sd, err := windows.SecurityDescriptorFromString(dataDirSDDL)
	if err != nil {
		return err
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return err
	}
	err = windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
	if err != nil {
		return fmt.Errorf("data directory permissions: %w", err)
	}
	return nil
}

// CheckDataDir says whether only the service and Administrators can
// read dir: no allow entry for Users, Everyone or Authenticated Users.
func CheckDataDir(dir string) (ok bool, answer string) {
	sd, err := windows.GetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return false, "数据目录不存在或无法读取：" + err.Error()
	}
	s := sd.String()
	for _, sid := range []string{";;;BU)", ";;;WD)", ";;;AU)", ";;;IU)"} {
		if strings.Contains(s, sid) {
			return false, fmt.Sprintf("数据目录 %s 普通用户也能读取（%s）；运行 install 可修复", dir, s)
		}
	}
	return true, fmt.Sprintf("数据目录 %s 只有系统服务和管理员可以读取", dir)
}

// DiskFree is the space available to the service on dir's volume.
func DiskFree(dir string) (uint64, error) {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, err
	}
	var free, total, totalFree uint64
	if err := windows.GetDiskFreeSpaceEx(p, &free, &total, &totalFree); err != nil {
		return 0, err
	}
	return free, nil
}
