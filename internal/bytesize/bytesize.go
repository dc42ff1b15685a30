// Package bytesize writes a size in bytes as the people at the screen read
// it, in one way on every page and command line: 512 字节, 38 KB, 20 MB,
// 1.4 MB.
package bytesize

import (
	"fmt"
	"strconv"
)

// Text is n bytes as a person reads it: bytes below 1 KB, whole KB below
// 1 MB, then MB with one decimal (none when whole).
func Text(n int64) string {
	switch {
	case n < 1<<10:
		return strconv.FormatInt(n, 10) + " 字节"
	case n < 1<<20:
		return fmt.Sprintf("%.0f KB", float64(n)/(1<<10))
	case n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MB"
	default:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	}
}
