package installer

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc/mgr"
)

// SetRecovery makes the service manager restart the service 5 s after any
// failure, also a "non-crash" one: a service that reports STOPPED with an
// error exit code (what a failed start or a fatal error does) is otherwise
// never restarted (fFailureActionsOnNonCrashFailures; kardianos/service
// PR #420 still open). The service calls it at start too, so that an MSI
// install, which cannot set the flag, gets it.
//
// It quotes the ImagePath first and independently of the recovery
// actions: Wine 8's service manager refuses the non-crash flag
// (ChangeServiceConfig2 level 4, ERROR_INVALID_LEVEL), and the quoting
// must not depend on it.
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
	quoteErr := quoteImagePath(s)
	actions := []mgr.RecoveryAction{
		{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
	}
	if err := s.SetRecoveryActions(actions, uint32((24 * time.Hour).Seconds())); err != nil {
		return errors.Join(quoteErr, fmt.Errorf("recovery actions: %w", err))
	}
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		return errors.Join(quoteErr, fmt.Errorf("restart on non-crash failures: %w", err))
	}
	return quoteErr
}

// quoteImagePath quotes the program's path in the service's command line
// if it has a space and no quotes: an unquoted C:\Program Files\… path lets
// C:\Program.exe run instead (CWE-428). Windows Installer quotes it; Wine's
// msiexec does not (seen here), nor do some third-party tools.
//
// It reads and changes the command line alone (QueryServiceConfig,
// ChangeServiceConfig with SERVICE_NO_CHANGE for everything else), not
// through mgr.Service.Config/UpdateConfig: those also query and rewrite
// the description and delayed-start info (QueryServiceConfig2), which
// Wine 8 refuses with "Invalid level", and they would rewrite settings
// this has no business touching.
func quoteImagePath(s *mgr.Service) error {
	var need uint32
	var buf []byte
	for size := uint32(1024); ; size = need {
		buf = make([]byte, size)
		cfg := (*windows.QUERY_SERVICE_CONFIG)(unsafe.Pointer(&buf[0]))
		err := windows.QueryServiceConfig(s.Handle, cfg, size, &need)
		if err == nil {
			break
		}
		if err != windows.ERROR_INSUFFICIENT_BUFFER || need <= size {
			return fmt.Errorf("read the ImagePath: %w", err)
		}
	}
	cfg := (*windows.QUERY_SERVICE_CONFIG)(unsafe.Pointer(&buf[0]))
	q, changed := QuoteImagePath(windows.UTF16PtrToString(cfg.BinaryPathName))
	if !changed {
		return nil
	}
	path, err := windows.UTF16PtrFromString(q)
	if err != nil {
		return err
	}
	const noChange = windows.SERVICE_NO_CHANGE
	if err := windows.ChangeServiceConfig(s.Handle, noChange, noChange, noChange, path, nil, nil, nil, nil, nil, nil); err != nil {
		return fmt.Errorf("quote the ImagePath: %w", err)
	}
	return nil
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
