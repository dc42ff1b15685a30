package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"stationsync/internal/passhash"
)

// Staff roles.
const (
	RoleAdmin    = "admin"    // 县民政局管理员: everything, stations and accounts
	RoleCounty   = "county"   // 县民政局: every village of the county
	RoleTownship = "township" // 乡镇民政办: the villages of one township
)

// RoleLabel is the Chinese name of a role.
var RoleLabel = map[string]string{RoleAdmin: "县级管理员", RoleCounty: "县民政局工作人员", RoleTownship: "乡镇民政办工作人员"}

// Login policy.
const (
	MaxFailedLogins = 5                // then the account is locked …
	LockoutFor      = 15 * time.Minute // … for this long
	SessionIdle     = 30 * time.Minute // a session unused this long ends
	SessionMax      = 12 * time.Hour   // and none lives longer than a working day
	MinPasswordLen  = 10
)

// Account errors.
var (
	ErrBadLogin     = errors.New("wrong username or password")
	ErrLocked       = errors.New("account locked")
	ErrNoSession    = errors.New("no valid session")
	ErrUserExists   = errors.New("username taken")
	ErrNoUser       = errors.New("user unknown")
	ErrWeakPassword = errors.New("password too short")
	ErrBadRole      = errors.New("role or township invalid")
)

// User is a staff account.
type User struct {
	ID          int64
	Username    string
	DisplayName string
	Role        string
	Township    string // 9 digits, for RoleTownship
	FullNumbers bool   // may see full ID and phone numbers
	Failed      int
	LockedUntil time.Time
	DisabledAt  *time.Time
	CreatedAt   time.Time
}

// Scope returns the village-code prefix the user may see: the county's (or
// "" for any) for county roles, the township's for township staff.
func (u *User) Scope() string {
	if u.Role == RoleTownship {
		return u.Township
	}
	return ""
}

// CanSee reports whether the user may see records of village.
func (u *User) CanSee(village string) bool {
	return strings.HasPrefix(village, u.Scope())
}

// Admin reports whether the user manages stations and accounts.
func (u *User) Admin() bool { return u.Role == RoleAdmin }

// passwordMemory is argon2id's memory in KiB for staff passwords.
const passwordMemory = 64 * 1024

// HashPassword returns an argon2id PHC string for password.
func HashPassword(password string) string {
	h, err := passhash.Hash(password, passwordMemory)
	if err != nil {
		panic(err) // crypto/rand failing leaves nothing safe to do
	}
	return h
}

// CheckPassword reports whether password matches the PHC string.
func CheckPassword(phc, password string) bool { return passhash.Verify(phc, password) }

// dummyHash is compared against when the username is unknown, so that the
// answer takes as long as for a known one.
var dummyHash = HashPassword("not a password of anyone")

// NewUser is what an administrator enters for an account.
type NewUser struct {
	Username, DisplayName, Role, Township, Password string
	FullNumbers                                     bool
}

func (s *SQLiteStore) checkNewUser(u *NewUser) error {
	u.Username = strings.TrimSpace(u.Username)
	u.DisplayName = strings.TrimSpace(u.DisplayName)
	if u.Username == "" || len(u.Username) > 64 || strings.ContainsAny(u.Username, " \t\r\n") {
		return fmt.Errorf("%w: username", ErrBadRole)
	}
	if u.DisplayName == "" {
		u.DisplayName = u.Username
	}
	switch u.Role {
	case RoleAdmin, RoleCounty:
		u.Township = ""
	case RoleTownship:
		if len(u.Township) != 9 || strings.Trim(u.Township, "0123456789") != "" || (s.county != "" && !strings.HasPrefix(u.Township, s.county)) {
			return fmt.Errorf("%w: township must be 9 digits of this county", ErrBadRole)
		}
	default:
		return ErrBadRole
	}
	if len([]rune(u.Password)) < MinPasswordLen {
		return ErrWeakPassword
	}
	return nil
}

// CreateUser adds an account.
func (s *SQLiteStore) CreateUser(ctx context.Context, u NewUser) (*User, error) {
	if err := s.checkNewUser(&u); err != nil {
		return nil, err
	}
	hash := HashPassword(u.Password)
	now := s.now()
	var id int64
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRow(`SELECT count(*) FROM users WHERE username = ?`, u.Username).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrUserExists
		}
		res, err := tx.Exec(`INSERT INTO users (username, display_name, role, township, full_numbers, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			u.Username, u.DisplayName, u.Role, u.Township, u.FullNumbers, hash, now.UnixMilli())
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.User(ctx, id)
}

const userCols = `id, username, display_name, role, township, full_numbers, failed, locked_until, disabled_at, created_at`

func scanUser(sc interface{ Scan(...any) error }) (*User, error) {
	var u User
	var locked, created int64
	var disabled sql.NullInt64
	if err := sc.Scan(&u.ID, &u.Username, &u.DisplayName, &u.Role, &u.Township, &u.FullNumbers, &u.Failed, &locked, &disabled, &created); err != nil {
		return nil, err
	}
	u.LockedUntil, u.CreatedAt, u.DisabledAt = time.UnixMilli(locked), time.UnixMilli(created), msPtr(disabled)
	return &u, nil
}

// User returns one account.
func (s *SQLiteStore) User(ctx context.Context, id int64) (*User, error) {
	u, err := scanUser(s.db.W.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoUser
	}
	return u, err
}

// Users lists every account.
func (s *SQLiteStore) Users(ctx context.Context) ([]User, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY role, township, username`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, *u)
	}
	return out, rows.Err()
}

// UserCount returns the number of accounts.
func (s *SQLiteStore) UserCount(ctx context.Context) (int, error) {
	var n int
	err := s.db.R.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, err
}

// UpdateUser changes an account's role, scope, number permission, and
// (when password is not empty) password; disabled ends its sessions.
func (s *SQLiteStore) UpdateUser(ctx context.Context, id int64, role, township string, fullNumbers, disabled bool, password string) error {
	nu := NewUser{Username: "x", Role: role, Township: township, Password: password}
	if password == "" {
		nu.Password = strings.Repeat("x", MinPasswordLen)
	}
	if err := s.checkNewUser(&nu); err != nil {
		return err
	}
	now := s.now().UnixMilli()
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		var dis any
		if disabled {
			dis = now
		}
		res, err := tx.Exec(`UPDATE users SET role = ?, township = ?, full_numbers = ?, disabled_at = CASE WHEN ? IS NULL THEN NULL ELSE coalesce(disabled_at, ?) END WHERE id = ?`,
			nu.Role, nu.Township, fullNumbers, dis, dis, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNoUser
		}
		if password != "" {
			if _, err := tx.Exec(`UPDATE users SET password_hash = ?, failed = 0, locked_until = 0 WHERE id = ?`, HashPassword(password), id); err != nil {
				return err
			}
		}
		// A changed role or scope takes effect at once: end the sessions.
		_, err = tx.Exec(`DELETE FROM sessions WHERE user_id = ?`, id)
		return err
	})
}

// Login checks a password and opens a session; it returns the session's
// token for the cookie. After MaxFailedLogins failures in a row the account
// is locked for LockoutFor, even for the right password.
func (s *SQLiteStore) Login(ctx context.Context, username, password, remote string) (*User, string, error) {
	now := s.now()
	var hash string
	u, err := scanUser(s.db.W.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE username = ?`, strings.TrimSpace(username)))
	if err == nil {
		err = s.db.W.QueryRowContext(ctx, `SELECT password_hash FROM users WHERE id = ?`, u.ID).Scan(&hash)
	}
	if errors.Is(err, sql.ErrNoRows) {
		CheckPassword(dummyHash, password)
		return nil, "", ErrBadLogin
	}
	if err != nil {
		return nil, "", fmt.Errorf("login: %w", err)
	}
	if u.DisabledAt != nil {
		CheckPassword(dummyHash, password)
		return u, "", ErrBadLogin
	}
	if now.Before(u.LockedUntil) {
		return u, "", ErrLocked
	}
	if !CheckPassword(hash, password) {
		err := s.db.Tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.Exec(`UPDATE users SET failed = failed + 1, locked_until = CASE WHEN failed + 1 >= ? THEN ? ELSE locked_until END WHERE id = ?`,
				MaxFailedLogins, now.Add(LockoutFor).UnixMilli(), u.ID)
			return err
		})
		if err != nil {
			return nil, "", fmt.Errorf("login: %w", err)
		}
		if u.Failed+1 >= MaxFailedLogins {
			return u, "", ErrLocked
		}
		return u, "", ErrBadLogin
	}
	token := randomToken()
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`UPDATE users SET failed = 0, locked_until = 0 WHERE id = ?`, u.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(`DELETE FROM sessions WHERE expires_at < ?`, now.UnixMilli()); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO sessions (token_hash, user_id, created_at, last_seen, expires_at, remote) VALUES (?, ?, ?, ?, ?, ?)`,
			tokenHash(token), u.ID, now.UnixMilli(), now.UnixMilli(), now.Add(SessionMax).UnixMilli(), remote)
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("login: %w", err)
	}
	u.Failed = 0
	return u, token, nil
}

// Session returns the user of a session token, and extends the session's
// idle window. An idle or expired session, or one of a disabled account,
// is ErrNoSession.
func (s *SQLiteStore) Session(ctx context.Context, token string) (*User, error) {
	if token == "" {
		return nil, ErrNoSession
	}
	now := s.now()
	var uid, last, expires int64
	err := s.db.R.QueryRowContext(ctx, `SELECT user_id, last_seen, expires_at FROM sessions WHERE token_hash = ?`, tokenHash(token)).Scan(&uid, &last, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	if now.UnixMilli() > expires || now.Sub(time.UnixMilli(last)) > SessionIdle {
		s.Logout(ctx, token)
		return nil, ErrNoSession
	}
	u, err := scanUser(s.db.R.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, uid))
	if err != nil {
		return nil, ErrNoSession
	}
	if u.DisabledAt != nil {
		return nil, ErrNoSession
	}
	// Writing last_seen on every request would serialise page views
	// behind the single writer; once a minute is enough for a 30-minute
	// idle window.
	if now.Sub(time.UnixMilli(last)) > time.Minute {
		s.db.Tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.Exec(`UPDATE sessions SET last_seen = ? WHERE token_hash = ?`, now.UnixMilli(), tokenHash(token))
			return err
		})
	}
	return u, nil
}

// Logout ends a session.
func (s *SQLiteStore) Logout(ctx context.Context, token string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`DELETE FROM sessions WHERE token_hash = ?`, tokenHash(token))
		return err
	})
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

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
	AuditEnrol        = "enrol"
	AuditLogin        = "login"
	AuditLoginFailed  = "login_failed"
	AuditLogout       = "logout"
	AuditDecision     = "decision"
	AuditEdit         = "edit"
	AuditResolve      = "resolve_conflict"
	AuditExport       = "export"
	AuditEnrolCode    = "enrol_code"
	AuditRevoke       = "revoke"
	AuditUserCreate   = "user_create"
	AuditUserUpdate   = "user_update"
	AuditSettings     = "settings"
	AuditDisclosure   = "disclosure_create"
	AuditViewFullNums = "view_full_numbers"
)

// AuditLabel is the Chinese name of an audit action.
var AuditLabel = map[string]string{
	AuditEnrol: "站点注册", AuditLogin: "登录", AuditLoginFailed: "登录失败", AuditLogout: "退出登录", AuditDecision: "审核决定", AuditEdit: "修改记录",
	AuditResolve: "处理冲突", AuditExport: "导出", AuditEnrolCode: "生成注册码", AuditRevoke: "停用站点", AuditUserCreate: "新建账号",
	AuditUserUpdate: "修改账号", AuditSettings: "修改设置", AuditDisclosure: "生成公示", AuditViewFullNums: "查看完整号码",
}

// Audit appends to the audit log.
func (s *SQLiteStore) Audit(ctx context.Context, username, action, target, detail, remote string) error {
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
func (s *SQLiteStore) AuditLog(ctx context.Context, f AuditFilter) ([]AuditEntry, int, error) {
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

// SetClock replaces the store's clock; tests move it to expire sessions
// and locks.
func (s *SQLiteStore) SetClock(now func() time.Time) { s.now = now }

// auditor is the part of a store the station API uses to log enrolments.
type auditor interface {
	Audit(ctx context.Context, username, action, target, detail, remote string) error
}

// ChangePassword sets a new password for an account whose current password
// is given, and ends all its sessions.
func (s *SQLiteStore) ChangePassword(ctx context.Context, id int64, current, password string) error {
	if len([]rune(password)) < MinPasswordLen {
		return ErrWeakPassword
	}
	var hash string
	if err := s.db.W.QueryRowContext(ctx, `SELECT password_hash FROM users WHERE id = ?`, id).Scan(&hash); err != nil {
		return ErrNoUser
	}
	if !CheckPassword(hash, current) {
		return ErrBadLogin
	}
	newHash := HashPassword(password)
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`UPDATE users SET password_hash = ? WHERE id = ?`, newHash, id); err != nil {
			return err
		}
		_, err := tx.Exec(`DELETE FROM sessions WHERE user_id = ?`, id)
		return err
	})
}
