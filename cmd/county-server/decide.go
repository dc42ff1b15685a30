package main

import (
	"context"
	"errors"
	"fmt"
	"math"

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
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	fen := int64(math.Round(*amount * 100))
	return withStore(ctx, o, e.Logger, func(st *server.SQLiteStore) error {
		err := st.Decide(ctx, server.Decision{ApplicationID: *app, Op: records.Op(*op), By: *by, Comment: *comment,
			AmountFen: fen, FromMonth: *from})
		if errors.Is(err, server.ErrNotFound) {
			return fmt.Errorf("县里没有编号为 %s 的申请", *app)
		}
		if err != nil {
			return err
		}
		st.Audit(ctx, "(命令行) "+*by, server.AuditDecision, "application/"+*app, *op+" "+*comment, "localhost")
		fmt.Fprintf(e.Stdout, "已记录决定：%s，申请 %s", opName(records.Op(*op)), *app)
		if fen != 0 {
			fmt.Fprintf(e.Stdout, "，金额 %s", records.Yuan(fen))
		}
		fmt.Fprintln(e.Stdout)
		return nil
	})
}

// opName is an operation's Chinese name, or its code if it has none.
func opName(op records.Op) string {
	if l := records.OpLabel(op); l != "" {
		return l
	}
	return string(op)
}
