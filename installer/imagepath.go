package installer

import "strings"

// QuoteImagePath quotes the executable of a Windows service command line
// ("C:\Program Files\x\a.exe run --service") when it contains a space and
// is not quoted yet. It finds the executable as the text up to and
// including the first ".exe" followed by a space or the end.
func QuoteImagePath(cmdline string) (string, bool) {
	if strings.HasPrefix(cmdline, `"`) {
		return cmdline, false
	}
	lower := strings.ToLower(cmdline)
	end := -1
	for i := 0; ; {
		j := strings.Index(lower[i:], ".exe")
		if j < 0 {
			break
		}
		k := i + j + len(".exe")
		if k == len(lower) || lower[k] == ' ' {
			end = k
			break
		}
		i = k
	}
	if end < 0 || !strings.Contains(cmdline[:end], " ") {
		return cmdline, false
	}
	return `"` + cmdline[:end] + `"` + cmdline[end:], true
}
