package server

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// The audit log: who did what at the county, from where. Every page that
// changes something or shows full numbers writes a line; only
// administrators read it.

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	ID       int64
	At       time.Time
	Username string
	Action   string
	Target   string
	Detail   string
	Remote   string
}

// Audit actions.
const (
	AuditEnroll       = "enrol"
	AuditEnrollFailed = "enrol_failed"
	AuditLogin        = "login"
	AuditLoginFailed  = "login_failed"
	AuditLogout       = "logout"
	AuditDecision     = "decision"
	AuditEdit         = "edit"
	AuditResolve      = "resolve_conflict"
	AuditExport       = "export"
	AuditEnrollCode   = "enrol_code"
	AuditRevoke       = "revoke"
	AuditUserCreate   = "user_create"
	AuditUserUpdate   = "user_update"
	AuditSettings     = "settings"
	AuditDisclosure   = "disclosure_create"
	AuditViewFullNums = "view_full_numbers"
)

// AuditLabel is the Chinese name of an audit action.
var AuditLabel = map[string]string{
	AuditEnroll: "站点注册", AuditEnrollFailed: "站点注册失败", AuditLogin: "登录", AuditLoginFailed: "登录失败", AuditLogout: "退出登录", AuditDecision: "审核决定", AuditEdit: "修改记录",
	AuditResolve: "处理冲突", AuditExport: "导出", AuditEnrollCode: "生成注册码", AuditRevoke: "停用站点", AuditUserCreate: "新建账号",
	AuditUserUpdate: "修改账号", AuditSettings: "修改设置", AuditDisclosure: "生成公示", AuditViewFullNums: "查看完整号码",
}

// Audit appends to the audit log.
func (s *CountyStore) Audit(ctx context.Context, username, action, target, detail, remote string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		return auditTx(tx, s.now(), username, action, target, detail, remote)
	})
}

func auditTx(tx *sql.Tx, now time.Time, username, action, target, detail, remote string) error {
	_, err := tx.Exec(`INSERT INTO audit_log (at, username, action, target, detail, remote) VALUES (?, ?, ?, ?, ?, ?)`,
		now.UnixMilli(), username, action, target, detail, remote)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// AuditFilter selects audit entries.
type AuditFilter struct {
	Username, Action string
	From, To         time.Time // zero: open
	Limit, Offset    int
}

// AuditLog returns entries, newest first, and how many match.
func (s *CountyStore) AuditLog(ctx context.Context, f AuditFilter) ([]AuditEntry, int, error) {
	where := []string{"1 = 1"}
	var args []any
	if f.Username != "" {
		where, args = append(where, "username = ?"), append(args, f.Username)
	}
	if f.Action != "" {
		where, args = append(where, "action = ?"), append(args, f.Action)
	}
	if !f.From.IsZero() {
		where, args = append(where, "at >= ?"), append(args, f.From.UnixMilli())
	}
	if !f.To.IsZero() {
		where, args = append(where, "at < ?"), append(args, f.To.UnixMilli())
	}
	w := strings.Join(where, " AND ")
	var total int
	if err := s.db.R.QueryRowContext(ctx, `SELECT count(*) FROM audit_log WHERE `+w, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("audit log: %w", err)
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT id, at, username, action, target, detail, remote FROM audit_log WHERE `+w+` ORDER BY at DESC, id DESC LIMIT ? OFFSET ?`,
		append(args, f.Limit, f.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("audit log: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Username, &e.Action, &e.Target, &e.Detail, &e.Remote); err != nil {
			return nil, 0, fmt.Errorf("audit log: %w", err)
		}
		e.At = time.UnixMilli(at)
		out = append(out, e)
	}
	return out, total, rows.Err()
}

// auditor is the part of a store the station API uses to log enrollments.
type auditor interface {
	Audit(ctx context.Context, username, action, target, detail, remote string) error
}
