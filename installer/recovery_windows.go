package installer

import (
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc/mgr"
)

// SetRecovery makes the service manager restart the service 5 s after any
// failure, also a "non-crash" one: a service that reports STOPPED with an
// error exit code (what a failed start or a fatal error does) is otherwise
// never restarted (fFailureActionsOnNonCrashFailures; kardianos/service
// PR #420 still open). The service calls it at start too, so that an MSI
// install, which cannot set the flag, gets it.
func SetRecovery(name string) error {
	m, err := mgr.Connect()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return err
	}
	defer s.Close()
	actions := []mgr.RecoveryAction{
		{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
	}
	if err := s.SetRecoveryActions(actions, uint32((24 * time.Hour).Seconds())); err != nil {
		return err
	}
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		return err
	}
	return quoteImagePath(s)
}

// quoteImagePath quotes the program's path in the service's command line
// if it has a space and no quotes: an unquoted C:\Program Files\… path lets
// C:\Program.exe run instead (CWE-428). Windows Installer quotes it; Wine's
// msiexec does not (seen here), nor do some third-party tools.
func quoteImagePath(s *mgr.Service) error {
	c, err := s.Config()
	if err != nil {
		return err
	}
	q, changed := QuoteImagePath(c.BinaryPathName)
	if !changed {
		return nil
	}
	c.BinaryPathName = q
	return s.UpdateConfig(c)
}

// RecoveryState reads back what SetRecovery set, for doctor.
func RecoveryState(name string) (restarts bool, nonCrash bool, err error) {
	m, err := mgr.Connect()
	if err != nil {
		return false, false, err
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return false, false, err
	}
	defer s.Close()
	acts, err := s.RecoveryActions()
	if err != nil {
		return false, false, err
	}
	restarts = len(acts) > 0 && acts[0].Type == windows.SC_ACTION_RESTART
	nonCrash, err = s.RecoveryActionsOnNonCrashFailures()
	return restarts, nonCrash, err
}
