package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"stationsync/agent"
	"stationsync/internal/cli"
	"stationsync/syncproto"
)

// runEnroll is `station-agent enroll`: enroll now, or keep the enrollment for
// the service when the county cannot be reached.
func (e *env) runEnroll(ctx context.Context, args []string) error {
	fs, data := e.flags("enroll")
	server := fs.String("server", "", "county server URL, e.g. http://county.example:8870")
	code := fs.String("code", "", "one-time enrolment code from the county")
	file := fs.String("file", "", "enrolment file exported by the county (instead of --server and --code)")
	yes := fs.Bool("yes", false, "records made before enrolment go up at once, without the confirmation in the station pages")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if *file != "" {
		ef, err := readEnrollFile(*file)
		if err != nil {
			return err
		}
		*server, *code = ef.Server, ef.Code
	}
	if *server == "" || *code == "" {
		fmt.Fprintln(e.Stderr, "需要 --server 和 --code，或 --file 注册文件")
		return cli.ErrUsage
	}
	return withAgent(ctx, *data, agent.Config{}, e.Logger, func(a *agent.Agent) error {
		return enrollNowOrLater(ctx, a, *server, *code, *yes, e.Stdout)
	})
}

// enrollNowOrLater enrolls, or, when the county cannot be reached, keeps the
// enrollment for the service to complete once the link works: install day
// often has no network, and records may be entered meanwhile.
func enrollNowOrLater(ctx context.Context, a *agent.Agent, server, code string, yes bool, stdout io.Writer) error {
	if en := a.Enrollment(ctx); en != nil && en.Unconfirmed && yes {
		// Enrolled before, the county's name printed then: --yes confirms it.
		if err := a.ConfirmEnrollment(ctx); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "已确认县级服务器 %s（%s）：之前录入的记录将由站点服务上传\n", orCode(en.CountyName, "未命名的县"), en.County)
		return nil
	}
	_, err := a.Enroll(ctx, server, code)
	var pe *syncproto.Error
	switch {
	case err == nil:
		printEnrollment(stdout, a.Enrollment(ctx))
		if en := a.Enrollment(ctx); en != nil && en.Unconfirmed && yes {
			if err := a.ConfirmEnrollment(ctx); err != nil {
				return err
			}
			fmt.Fprintln(stdout, "已确认（--yes）：之前录入的记录将由站点服务上传")
		}
		return nil
	case errors.As(err, &pe), errors.Is(err, context.Canceled):
		return explain(err)
	}
	if kerr := a.EnrollLater(ctx, server, code); kerr != nil {
		return kerr
	}
	fmt.Fprintf(stdout, "暂时连不上县级服务器（%v）。注册信息已保存，联网后站点服务会自动完成注册；可以先离线录入。\n", err)
	return nil
}

// printEnrollment says which county the station enrolled with, by name
// and code, and whether records wait for a person to confirm it.
func printEnrollment(w io.Writer, en *agent.Enrollment) {
	if en == nil {
		return
	}
	fmt.Fprintf(w, "注册成功：站点 %s\n县级服务器：%s（%s），地址 %s\n村：%s（%s）\n", en.StationID, orCode(en.CountyName, "未命名的县"), en.County, en.Server, orCode(en.VillageName, "未命名的村"), en.Village)
	if en.Unconfirmed {
		fmt.Fprintf(w, "本站注册前录入的 %d 条记录暂不上传：请在站点页面「站点注册」核对上面的县级服务器后点「确认」（或重新运行本命令并加 --yes）。\n", en.Records)
	}
}

func orCode(name, none string) string {
	if name == "" {
		return none
	}
	return name
}

func readEnrollFile(path string) (*syncproto.EnrollFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("打开注册文件: %w", err)
	}
	defer f.Close()
	return syncproto.ReadEnrollFile(f)
}

// explain turns a sync error into a sentence a cadre can act on.
func explain(err error) error {
	var pe *syncproto.Error
	if errors.As(err, &pe) {
		return fmt.Errorf("%s（%s）", pe.Message, pe.Code)
	}
	if syncproto.IsVersionMismatch(err) {
		return fmt.Errorf("村站通版本与县级服务器不兼容，请升级: %w", err)
	}
	if errors.Is(err, agent.ErrNotEnrolled) || errors.Is(err, agent.ErrUnconfirmed) {
		return err
	}
	return fmt.Errorf("无法连接县级服务器，请检查网络，联网后会自动重试: %w", err)
}
