//go:build !windows

package installer

// ShortcutName is the desktop shortcut's name.
const ShortcutName = "村站通"

// CreateShortcut does nothing outside Windows: Kylin/UOS stations open
// the pages from the browser.
func CreateShortcut(url, icon string) error { return nil }

// RemoveShortcut does nothing outside Windows.
func RemoveShortcut() error { return nil }
