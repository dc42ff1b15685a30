package installer

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// ShortcutName is the desktop shortcut's name.
const ShortcutName = "村站通"

func shortcutPath() (string, error) {
	d, err := windows.KnownFolderPath(windows.FOLDERID_PublicDesktop, 0)
	if err != nil {
		return "", err
	}
	return filepath.Join(d, ShortcutName+".url"), nil
}

// CreateShortcut puts "村站通" on every user's desktop, opening url (the
// station's pages) in the default browser. The MSI makes its own (a
// Shortcut row); this is for the command-line install.
func CreateShortcut(url, icon string) error {
	p, err := shortcutPath()
	if err != nil {
		return err
	}
	body := fmt.Sprintf("[InternetShortcut]\r\nURL=%s\r\nIconFile=%s\r\nIconIndex=0\r\n", url, icon)
	return os.WriteFile(p, []byte(body), 0o644)
}

// RemoveShortcut removes what CreateShortcut made.
func RemoveShortcut() error {
	p, err := shortcutPath()
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}
