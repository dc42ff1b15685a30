package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"stationsync/internal/bytesize"

	"stationsync/internal/cli"
	"stationsync/server"
)

// runImport is `county-server import FILE [--out DIR]`: take a village's
// USB bundle (PROTOCOL.md §16) as if its changes and files had come over
// the network, and write the station's answer (回执) beside it or into
// --out, for the staff to carry back. A refused bundle changes nothing
// and exits 1 with the reason in Chinese.
func (e *env) runImport(ctx context.Context, args []string) error {
	fs, o := e.flags("import")
	out := fs.String("out", "", "folder for the answer bundle (default: the bundle's folder)")
	by := fs.String("by", "命令行", "who imports it, for the audit log")
	file, err := cli.ParseFileArg(fs, args)
	if err != nil {
		return err
	}
	if file == "" {
		fmt.Fprintln(e.Stderr, "用法：county-server import [--out 文件夹] 数据包文件（村站通-….bundle）")
		return cli.ErrUsage
	}
	return withStore(ctx, o, e.Logger, func(st *server.CountyStore) error {
		res, err := st.ImportBundle(ctx, server.BundleImport{Path: file, OutDir: *out, By: *by})
		if err != nil {
			return fmt.Errorf("%s", server.RefusalMessage(err))
		}
		fmt.Fprintf(e.Stdout, "已导入站点 %s（村代码 %s）的数据包：%d 条记录（新 %d 条，重复 %d 条，退回 %d 条），%d 个附件。\n",
			res.Station, res.Village, res.Changes, res.Applied, res.Duplicate, res.Rejected, res.FilesStored)
		for _, m := range res.FilesRefused {
			fmt.Fprintln(e.Stdout, "注意：", m)
		}
		for _, m := range res.Warnings {
			fmt.Fprintln(e.Stdout, "注意：", m)
		}
		fmt.Fprintf(e.Stdout, "已生成回执 %s（%d 条县里的记录，%d 个附件，%s），请带回村里用 station-agent import 导入。\n",
			res.Downlink, res.FeedRecords, res.DownFiles, bytesize.Text(res.DownlinkSize))
		return nil
	})
}

// importDirFlags are `serve --import-dir DIR [--import-poll]`: a folder
// whose villages' bundles are imported as they appear, inside the service.
type importDirFlags struct {
	dir  *string
	poll *bool
}

func addImportDirFlags(fs *flag.FlagSet) importDirFlags {
	return importDirFlags{
		dir:  fs.String("import-dir", "", "folder whose villages' bundles (村站通-….bundle) are imported as they appear; answers are written beside them"),
		poll: fs.Bool("import-poll", false, "read the import folder every few seconds instead of watching it (a USB stick: a watch keeps it busy)"),
	}
}

// start watches the import folder, if one was named, until srv closes.
func (f importDirFlags) start(srv *server.Server, st *server.CountyStore, logger *slog.Logger) error {
	if *f.dir == "" {
		return nil
	}
	if err := os.MkdirAll(*f.dir, 0o700); err != nil {
		return fmt.Errorf("--import-dir: %w", err)
	}
	logger.Info("watching the import folder for villages' bundles", "dir", *f.dir, "poll", *f.poll)
	return srv.Go("bundle import folder", func(ctx context.Context) error { return st.WatchBundles(ctx, *f.dir, *f.poll, logger) })
}
