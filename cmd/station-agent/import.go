package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"

	"stationsync/agent"
	"stationsync/internal/cli"
)

// runImport is `station-agent import FILE`: apply the county's downlink
// bundle (回执) — acknowledgements, the county's records and files — as a
// sync round applies the county's answers.
func (e *env) runImport(ctx context.Context, args []string) error {
	fs, data := e.flags("import")
	file, err := cli.ParseFileArg(fs, args)
	if err != nil {
		return err
	}
	if file == "" {
		fmt.Fprintln(e.Stderr, "用法：station-agent import 回执文件（村站通回执-….bundle）")
		return cli.ErrUsage
	}
	return withAgent(ctx, *data, agent.Config{}, e.Logger, func(a *agent.Agent) error {
		res, err := a.Import(ctx, file)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "已导入县里的回执：%d 条记录已确认（其中 %d 条被县里退回），收到 %d 条县里的记录，%d 个附件；本站 %d 个附件已由县里确认。\n",
			res.Acked, res.Rejected, res.Pulled, res.Files, res.FilesAcked)
		if res.FeedSkipped {
			fmt.Fprintln(e.Stdout, "回执中的县里记录比本站已同步的旧，已跳过。")
		}
		for _, w := range res.Warnings {
			fmt.Fprintln(e.Stdout, "注意：", w)
		}
		return nil
	})
}

// inboxFlags are `run --inbox DIR [--inbox-poll]`: a folder whose county
// answers are imported as they appear.
type inboxFlags struct {
	dir  *string
	poll *bool
}

func addInboxFlags(fs *flag.FlagSet) inboxFlags {
	return inboxFlags{
		dir:  fs.String("inbox", "", "folder whose county answers (村站通回执-….bundle) are imported as they appear"),
		poll: fs.Bool("inbox-poll", false, "read the inbox every few seconds instead of watching it (a USB stick: a watch keeps it busy)"),
	}
}

// start watches the inbox, if one was named, until the agent closes.
func (f inboxFlags) start(a *agent.Agent, logger *slog.Logger) {
	if *f.dir == "" {
		return
	}
	if err := a.WatchInbox(*f.dir, *f.poll); err != nil {
		logger.Error("inbox not watched", "dir", *f.dir, "err", err)
		return
	}
	logger.Info("watching the inbox for the county's answers", "dir", *f.dir, "poll", *f.poll)
}
