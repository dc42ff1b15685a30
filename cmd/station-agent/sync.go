package main

import (
	"context"
	"fmt"

	"stationsync/agent"
	"stationsync/internal/cli"
)

// runSync is `station-agent sync`: one round now. Exit 0 only when every
// change is acknowledged, 1 while some are still queued.
func (e *env) runSync(ctx context.Context, args []string) error {
	fs, data := e.flags("sync")
	pushing := e.pushFlags(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	batch, ahead, err := pushing()
	if err != nil {
		return err
	}
	return withAgent(ctx, *data, agent.Config{BatchSize: batch, Ahead: ahead}, e.Logger, func(a *agent.Agent) error {
		res, err := a.SyncOnce(ctx)
		if err != nil {
			return explain(err)
		}
		fmt.Fprintf(e.Stdout, "同步完成：上传 %d 条（被退回 %d 条），下载 %d 条\n", res.Pushed, res.Rejected, res.Pulled)
		if n, _ := a.Store.Pending(ctx); n > 0 {
			fmt.Fprintf(e.Stdout, "仍有 %d 条待上传\n", n)
			return cli.ExitStatus(1)
		}
		return nil
	})
}
