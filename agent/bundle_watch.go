package agent

import (
	"context"
	"time"

	"stationsync/internal/bundle"
)

// WatchInbox imports every downlink (县里的回执) that appears in dir until
// the agent closes (`station-agent run --inbox DIR`); a taken one moves to
// 已导入/, a refused one to 未导入/ with why (internal/bundle.Watch). poll:
// read the folder every few seconds instead of watching it, for a USB
// stick, which a watch would keep busy.
func (a *Agent) WatchInbox(dir string, poll bool) error {
	opt := bundle.WatchOptions{Kind: bundle.Downlink, Poll: poll, Logger: a.logger.With("subsystem", "inbox")}
	if poll {
		opt.Rescan = 5 * time.Second
	}
	return a.bg.Go(func(ctx context.Context) error {
		return bundle.Watch(ctx, dir, opt, func(ctx context.Context, path string) error {
			res, err := a.Import(ctx, path)
			if err != nil {
				return err
			}
			a.logger.Info("answer imported from the inbox", "acked", res.Acked, "pulled", res.Pulled, "files", res.Files)
			return nil
		})
	})
}
