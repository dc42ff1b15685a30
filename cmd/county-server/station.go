package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"stationsync/internal/cli"
	"stationsync/internal/zone"
	"stationsync/server"
	"stationsync/syncproto"
)

// runStationAdd is `county-server station add`: a one-time enrollment code
// for a village, with the own CA's pin when the server has one.
func (e *env) runStationAdd(ctx context.Context, args []string) error {
	fs, o := e.flags("station add")
	village := fs.String("village", "", "12-digit village code")
	ttl := fs.Duration("ttl", 7*24*time.Hour, "how long the code stays valid")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	return withStore(ctx, o, e.Logger, func(st *server.CountyStore) error {
		code, err := st.CreateCode(ctx, *village, *ttl)
		if errors.Is(err, server.ErrBadVillage) {
			return errors.New("村代码应为本县的12位统计用区划代码，例如 340123101201")
		}
		if err != nil {
			return err
		}
		st.Audit(ctx, "(命令行)", server.AuditEnrollCode, *village, "", "localhost")
		_, err = fmt.Fprintln(e.Stdout, withPin(o.data, code))
		return err
	})
}

// runStationList is `county-server station list`: the stations and their
// health; --json prints jsonout.Station.
func (e *env) runStationList(ctx context.Context, args []string) error {
	fs, o := e.flags("station list")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	return withStore(ctx, o, e.Logger, func(st *server.CountyStore) error {
		list, err := st.Stations(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return cli.PrintJSON(e.Stdout, stationsOut(list)) // jsonout.go
		}
		fmt.Fprintf(e.Stdout, "%-20s %-13s %-8s %-20s %s\n", "站点", "村代码", "待上传", "最近联系", "状态")
		for _, s := range list {
			state, contact := "正常", "从未"
			if s.RevokedAt != nil {
				state = "已停用"
			}
			if s.LastContactAt != nil {
				contact = zone.Second(*s.LastContactAt)
			}
			fmt.Fprintf(e.Stdout, "%-20s %-13s %-8d %-20s %s\n", s.ID, s.Village, s.Pending, contact, state)
		}
		return nil
	})
}

// runStationRevoke is `county-server station revoke ID`: the station is
// refused from now on.
func (e *env) runStationRevoke(ctx context.Context, args []string) error {
	fs, o := e.flags("station revoke")
	if cli.Parse(fs, args) != nil || fs.NArg() != 1 {
		fmt.Fprintln(e.Stderr, "用法: county-server station revoke ID")
		return cli.ErrUsage
	}
	return withStore(ctx, o, e.Logger, func(st *server.CountyStore) error {
		if err := st.Revoke(ctx, fs.Arg(0)); err != nil {
			return err
		}
		st.Audit(ctx, "(命令行)", server.AuditRevoke, fs.Arg(0), "", "localhost")
		fmt.Fprintln(e.Stdout, "已停用", fs.Arg(0))
		return nil
	})
}

// withPin appends the own CA's pin to an enrollment code made on the
// command line, when the server uses its own CA (or an operator's chain
// in DATA/tls/server.pem).
func withPin(data, code string) string {
	cs, err := server.NewCertSource(filepath.Join(data, "tls", "server.pem"), filepath.Join(data, "tls", "server.key"))
	if err != nil {
		return code
	}
	return code + "-" + syncproto.ShortPin(cs.Pin)
}
