package fileperm

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/windows"
)

// sddl is the protected DACL of a data file or folder: full control for
// SYSTEM (the service), Administrators and the running account, nothing
// inherited from the parent. The installer's data folder ACL
// (installer.dataDirSDDL) is the same without the running account, which
// there is an administrator anyway.
func sddl(dir bool) (string, error) {
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return "", fmt.Errorf("current account: %w", err)
	}
	inherit := ""
	if dir {
		inherit = "OICI"
	}
	me := tu.User.Sid.String()
	return fmt.Sprintf("D:P(A;%[1]s;FA;;;SY)(A;%[1]s;FA;;;BA)(A;%[1]s;FA;;;%[2]s)", inherit, me), nil
}

func restrict(path string, dir bool) error {
	if _, err := os.Lstat(path); err != nil {
		return err
	}
	s, err := sddl(dir)
	if err != nil {
		return err
	}
	sd, err := windows.SecurityDescriptorFromString(s)
	if err != nil {
		return err
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return err
	}
	return windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
}

// private reports whether every allow entry of path's DACL names SYSTEM,
// Administrators, the file's owner or the running account. A missing
// DACL (NULL: everyone may do anything) is not private.
func private(path string) (bool, error) {
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION|windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return false, err
	}
	dacl, _, err := sd.DACL()
	if err != nil || dacl == nil {
		return false, err
	}
	owner, _, _ := sd.Owner()
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return false, err
	}
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			return false, err
		}
		if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE {
			continue
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		switch {
		case sid.IsWellKnown(windows.WinLocalSystemSid), sid.IsWellKnown(windows.WinBuiltinAdministratorsSid),
			sid.Equals(tu.User.Sid), owner != nil && sid.Equals(owner):
		default:
			return false, nil
		}
	}
	return true, nil
}
