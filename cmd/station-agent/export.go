package main

import (
	"context"
	"fmt"
	"stationsync/internal/bytesize"

	"stationsync/agent"
	"stationsync/internal/cli"
)

// runExport is `station-agent export --to DIR`: write everything the
// county has not acknowledged — changes and files — into one bundle on a
// USB stick (PROTOCOL.md §16), for a village without a link.
func (e *env) runExport(ctx context.Context, args []string) error {
	fs, data := e.flags("export")
	to := fs.String("to", "", "folder to write the bundle into (the USB stick)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if *to == "" || fs.NArg() > 0 {
		fmt.Fprintln(e.Stderr, "用法：station-agent export --to 文件夹（例如 U 盘）")
		return cli.ErrUsage
	}
	return withAgent(ctx, *data, agent.Config{}, e.Logger, func(a *agent.Agent) error {
		res, err := a.Export(ctx, *to)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "已导出 %s：%d 条记录，%d 个附件，共 %s。\n", res.Path, res.Changes, res.Files, bytesize.Text(res.Size))
		if len(res.Missing) > 0 {
			fmt.Fprintf(e.Stdout, "注意：%d 个附件在本机已损坏或丢失，没有导出，请重新添加。\n", len(res.Missing))
		}
		fmt.Fprintln(e.Stdout, "请把这个文件带到县里导入，并把县里生成的回执（村站通回执-….bundle）带回来用 station-agent import 导入。")
		return nil
	})
}
