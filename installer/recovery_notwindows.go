//go:build !windows

package installer

// SetRecovery is the unit's Restart=always on systemd: nothing to do.
func SetRecovery(name string) error { return nil }

// RecoveryState: the unit restarts on every exit.
func RecoveryState(name string) (restarts bool, nonCrash bool, err error) { return true, true, nil }
