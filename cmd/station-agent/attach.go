package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"stationsync/agent"
	"stationsync/internal/cli"
	"stationsync/internal/photo"
)

// runAttach is `station-agent attach --record ID FILE…`: attach photos and
// scans to a visit, an application or a disclosure, as the pages do, and
// print each file's hash, size and type. Every file is checked before any
// is kept, so a refusal (a file of the wrong type, a damaged image, one
// too big, a record that takes no files) leaves the record as it was.
func (e *env) runAttach(ctx context.Context, args []string) error {
	fs, data := e.flags("attach")
	rec := fs.String("record", "", "id of the visit, application or disclosure")
	by := fs.String("by", "命令行", "who attaches the files (shown on the record)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if *rec == "" || fs.NArg() == 0 {
		fmt.Fprintln(e.Stderr, "用法：station-agent attach --record 记录编号 文件…（JPEG、PNG 照片或 PDF 扫描件）")
		return cli.ErrUsage
	}
	type file struct {
		path string
		data []byte
	}
	var files []file
	for _, p := range fs.Args() {
		b, err := readFile(p, photo.DefaultMaxBytes)
		if err != nil {
			return err
		}
		if _, err := photo.Normalize(ctx, bytes.NewReader(b), photo.Options{}); err != nil {
			return fmt.Errorf("%s 没有添加：%w", p, err)
		}
		files = append(files, file{p, b})
	}
	return withAgent(ctx, *data, agent.Config{}, e.Logger, func(a *agent.Agent) error {
		var added []string
		for _, f := range files {
			h, err := a.Attach(ctx, *rec, filepath.Base(f.path), *by, bytes.NewReader(f.data))
			if err != nil {
				// What this command added comes off again: a refusal
				// changes nothing.
				for _, h := range added {
					a.Detach(ctx, *rec, h, *by)
				}
				if errors.Is(err, agent.ErrNotFound) {
					return fmt.Errorf("找不到记录 %s：只能给本站的走访记录、救助申请和村务公开添加文件", *rec)
				}
				return fmt.Errorf("%s 没有添加：%w", f.path, err)
			}
			added = append(added, h)
		}
		list, err := a.Attachments(ctx, *rec)
		if err != nil {
			return err
		}
		for _, h := range added {
			for _, at := range list {
				if at.Hash == h {
					fmt.Fprintf(e.Stdout, "%s\t%d\t%s\t%s\n", at.Hash, at.Size, at.Type, at.Name)
				}
			}
		}
		return nil
	})
}

// readFile reads a file to attach, refusing one over limit before reading
// it whole.
func readFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("无法打开文件 %s：%w", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("无法读取文件 %s：%w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s 没有添加：文件太大，超过 %d MB", path, limit>>20)
	}
	return b, nil
}
