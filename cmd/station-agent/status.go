package main

import (
	"context"
	"fmt"
	"io"

	"stationsync/agent"
	"stationsync/installer"
	"stationsync/internal/cli"
)

// runStatus is `station-agent status`: the service's state, pending
// changes, the last sync and its error; --json prints jsonout.StationStatus.
func (e *env) runStatus(ctx context.Context, args []string) error {
	fs, data := e.flags("status")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	return withAgent(ctx, *data, agent.Config{}, e.Logger, func(a *agent.Agent) error {
		st, err := a.Status(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return cli.PrintJSON(e.Stdout, statusOut(st)) // list.go
		}
		printServiceState(e.Stdout, *data)
		printStatus(e.Stdout, st)
		return nil
	})
}

func printStatus(w io.Writer, st agent.Status) {
	if !st.Enrolled {
		fmt.Fprintln(w, "站点：尚未注册（可以先离线录入，联网后再完成注册）")
	} else {
		fmt.Fprintf(w, "站点：%s（村代码 %s）\n县级服务器：%s\n", st.StationID, st.Village, st.Server)
		if st.Unconfirmed {
			fmt.Fprintf(w, "注册待确认：%s（%s）。请在站点页面「站点注册」核对后确认，之前录入的记录确认后才会上传\n", orCode(st.CountyName, "未命名的县"), st.County)
		}
	}
	fmt.Fprintf(w, "待上传：%d 条\n", st.Pending)
	if st.StorageError != "" {
		fmt.Fprintf(w, "磁盘问题：%s\n", st.StorageError)
	}
	if st.LastOK != "" {
		fmt.Fprintf(w, "上次成功同步：%s\n", st.LastOK)
	} else {
		fmt.Fprintln(w, "上次成功同步：从未")
	}
	if st.LastError != "" {
		fmt.Fprintf(w, "最近的错误：%s\n", st.LastError)
	}
	if st.Rejected > 0 {
		fmt.Fprintf(w, "被县里退回的修改：%d 条，需要修正\n", st.Rejected)
	}
	if st.Conflicts > 0 {
		fmt.Fprintf(w, "冲突记录：%d 条\n", st.Conflicts)
	}
	fmt.Fprintf(w, "与县里的时钟差：%d 毫秒\n", st.ClockOffsetMs)
}

// printServiceState adds the service's state to `status`, if installed.
func printServiceState(w io.Writer, dataDir string) {
	if state, installed := serviceInstalled(installer.StationService("", dataDir)); installed {
		fmt.Fprintf(w, "服务：%s\n", state)
	}
}
