package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"stationsync/internal/cli"
	"stationsync/internal/records"
	"stationsync/server"
)

// runDecide is `county-server decide`: the county's decision on an
// application, through the same merge as a station's intent.
func (e *env) runDecide(ctx context.Context, args []string) error {
	fs, o := e.flags("decide")
	app := fs.String("app", "", "application id")
	op := fs.String("op", "", "accept, review, approve, reject or return")
	by := fs.String("by", "县民政局", "who decides")
	comment := fs.String("comment", "", "reviewer comment (the reason, for reject and return)")
	amount := fs.Float64("amount", 0, "approved monthly amount in yuan")
	from := fs.String("from", "", "approved from month, 2006-01")
	var files []string
	fs.Func("file", "a document that goes down with the decision (JPEG, PNG or PDF; repeat for more)", func(p string) error {
		files = append(files, p)
		return nil
	})
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	fen := int64(math.Round(*amount * 100))
	// Every file is read and checked before anything is stored or decided.
	var docs []server.DecisionDocument
	for _, p := range files {
		data, err := readDocument(p)
		if err != nil {
			return err
		}
		d, err := server.PrepareDocument(ctx, filepath.Base(p), data, 0)
		if err != nil {
			return fmt.Errorf("%w；决定没有记录", err)
		}
		docs = append(docs, d)
	}
	return withStore(ctx, o, e.Logger, func(st *server.CountyStore) error {
		if _, err := st.Application(ctx, *app, ""); errors.Is(err, server.ErrNotFound) {
			return fmt.Errorf("县里没有编号为 %s 的申请", *app)
		}
		if err := server.StoreDocuments(ctx, st.FilesDir(), docs); err != nil {
			return err
		}
		err := st.Decide(ctx, server.Decision{ApplicationID: *app, Op: records.Op(*op), By: *by, Comment: *comment,
			AmountFen: fen, FromMonth: *from, Documents: docs})
		if errors.Is(err, server.ErrNotFound) {
			return fmt.Errorf("县里没有编号为 %s 的申请", *app)
		}
		if err != nil {
			return err
		}
		detail := *op + " " + *comment
		if len(docs) > 0 {
			detail += fmt.Sprintf(" 附决定文件 %d 个", len(docs))
		}
		st.Audit(ctx, "(命令行) "+*by, server.AuditDecision, "application/"+*app, detail, "localhost")
		fmt.Fprintf(e.Stdout, "已记录决定：%s，申请 %s", opName(records.Op(*op)), *app)
		if fen != 0 {
			fmt.Fprintf(e.Stdout, "，金额 %s", records.Yuan(fen))
		}
		if len(docs) > 0 {
			fmt.Fprintf(e.Stdout, "，随决定下发文件 %d 个", len(docs))
		}
		fmt.Fprintln(e.Stdout)
		return nil
	})
}

// readDocument reads a file to go with a decision, refusing one larger
// than any the county keeps before reading it whole.
func readDocument(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("无法打开文件 %s：%w", path, err)
	}
	defer f.Close()
	const limit = 64 << 20
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("无法读取文件 %s：%w", path, err)
	}
	if len(data) > limit {
		return nil, fmt.Errorf("文件 %s 太大，随决定下发的文件不能超过 20 MB；决定没有记录", path)
	}
	return data, nil
}

// opName is an operation's Chinese name, or its code if it has none.
func opName(op records.Op) string {
	if l := records.OpLabel(op); l != "" {
		return l
	}
	return string(op)
}
