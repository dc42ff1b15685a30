package installer

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"

	"stationsync/internal/logging"
)

// RunService runs run under the Windows service manager. It enters the
// dispatcher directly (svc.Run) rather than asking svc.IsWindowsService
// first: Wine runs services in session 1, where that guess says "not a
// service" and the manager is never answered; on Windows it changes
// nothing, since only the manager starts `run --service`.
//
// The manager is told "running" at once and run works in the background,
// so opening and migrating a large database never hits the 30 s start
// timeout (error 1053, kardianos/service#272). Stop cancels run's context
// and waits a little; nothing depends on it finishing, since every commit
// is already on disk. If run fails by itself the service stops with an
// error code, which SetRecovery's non-crash flag turns into a restart.
func RunService(_ context.Context, name string, logger *slog.Logger, run func(ctx context.Context) error) error {
	h := &handler{run: run, logger: logger}
	if err := svc.Run(name, h); err != nil {
		return fmt.Errorf("service dispatcher: %w", err)
	}
	return h.err
}

type handler struct {
	run    func(ctx context.Context) error
	logger *slog.Logger
	err    error
}

func (h *handler) Execute(_ []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.run(ctx) }()
	const accepts = svc.AcceptStop | svc.AcceptShutdown
	status <- svc.Status{State: svc.Running, Accepts: accepts}
	for {
		select {
		case err := <-done:
			if err != nil {
				h.err = err
				status <- svc.Status{State: svc.StopPending}
				return true, 1
			}
			return false, 0
		case c := <-req:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending, WaitHint: 20000}
				cancel()
				select {
				case h.err = <-done:
				case <-time.After(15 * time.Second):
					h.logger.Warn("service stop: work still running after 15 s; stopping anyway")
				}
				return false, 0
			}
		}
	}
}

// SystemLog is the Windows Event Log source registered for name (the
// command-line install and the MSI both register it); nil if it cannot
// be opened.
func SystemLog(name string) logging.System {
	el, err := eventlog.Open(name)
	if err != nil {
		return nil
	}
	return eventLog{el}
}

type eventLog struct{ l *eventlog.Log }

func (e eventLog) Error(v ...any) error   { return e.l.Error(3, fmt.Sprint(v...)) }
func (e eventLog) Warning(v ...any) error { return e.l.Warning(2, fmt.Sprint(v...)) }
func (e eventLog) Info(v ...any) error    { return e.l.Info(1, fmt.Sprint(v...)) }

// Interactive reports whether the program was started from a console
// rather than by the service manager.
func Interactive() bool {
	is, err := svc.IsWindowsService()
	return err != nil || !is
}
