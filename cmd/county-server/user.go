package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"stationsync/internal/cli"
	"stationsync/server"
)

// runUserAdd is `county-server user add`: a staff account, its password
// read from standard input.
func (e *env) runUserAdd(ctx context.Context, args []string) error {
	fs, o := e.flags("user add")
	username := fs.String("username", "", "login name")
	name := fs.String("name", "", "display name (姓名)")
	role := fs.String("role", server.RoleAdmin, "admin, county or township")
	township := fs.String("township", "", "9-digit township code (township role)")
	full := fs.Bool("full-numbers", false, "may see and export full ID and phone numbers")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(e.Stderr, "请输入 %s 的密码（至少 %d 位），回车结束：\n", *username, server.MinPasswordLen)
	line, err := bufio.NewReader(e.Stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return withStore(ctx, o, e.Logger, func(st *server.CountyStore) error {
		u, err := st.CreateUser(ctx, server.NewUser{Username: *username, DisplayName: *name, Role: *role, Township: *township, Password: strings.TrimRight(line, "\r\n"), FullNumbers: *full})
		switch {
		case errors.Is(err, server.ErrWeakPassword):
			return fmt.Errorf("密码至少 %d 位", server.MinPasswordLen)
		case errors.Is(err, server.ErrUserExists):
			return fmt.Errorf("用户名 %s 已存在", *username)
		case errors.Is(err, server.ErrBadRole):
			return errors.New("角色应为 admin、county 或 township；乡镇账号需 --township 本县9位乡镇代码")
		case err != nil:
			return err
		}
		st.Audit(ctx, "(命令行)", server.AuditUserCreate, u.Username, server.RoleLabel[u.Role]+" "+u.Township, "localhost")
		fmt.Fprintf(e.Stdout, "已创建账号 %s（%s）\n", u.Username, server.RoleLabel[u.Role])
		return nil
	})
}

// runUserList is `county-server user list`: the staff accounts, one a line
// under Chinese headings.
func (e *env) runUserList(ctx context.Context, args []string) error {
	fs, o := e.flags("user list")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	return withStore(ctx, o, e.Logger, func(st *server.CountyStore) error {
		users, err := st.Users(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "%-16s %-10s %-16s %-10s %s\n", "账号", "姓名", "角色", "乡镇", "状态")
		for _, u := range users {
			state := "正常"
			if u.DisabledAt != nil {
				state = "已停用"
			}
			fmt.Fprintf(e.Stdout, "%-16s %-10s %-16s %-10s %s\n", u.Username, u.DisplayName, server.RoleLabel[u.Role], u.Township, state)
		}
		return nil
	})
}
