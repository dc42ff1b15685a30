//go:build !linux && !windows

package agent

import "errors"

// diskState is not known on this OS; the write probe decides alone.
func diskState(string) (uint64, bool, error) {
	return 0, false, errors.ErrUnsupported
}
