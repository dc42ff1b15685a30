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

	"stationsync/internal/loginguard"
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
	ErrBadLogin     = errors.New("server: wrong username or password")
	ErrLocked       = errors.New("server: account locked")
	ErrNoSession    = errors.New("server: no valid session")
	ErrUserExists   = errors.New("server: username taken")
	ErrNoUser       = errors.New("server: user unknown")
	ErrWeakPassword = errors.New("server: password too short")
	ErrBadRole      = errors.New("server: role or township invalid")
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

// MaxConcurrentHashes bounds the argon2id hashes the county runs at once,
// so a burst of logins costs at most this many times passwordMemory: two
// (128 MiB) keep a login under a second for a county's staff and leave the
// server's memory to the stations' syncs. Logins beyond it get ErrBusy at
// once; new passwords (an administrator's form, the command line) wait.
const MaxConcurrentHashes = 2

// hashGate is the process's one bound, shared by every store it opens.
var hashGate = loginguard.NewGate(MaxConcurrentHashes)

// ErrBusy says every password-hash slot is taken: try again in a moment.
var ErrBusy = loginguard.ErrBusy

// hashNew hashes a new password once a slot is free.
func hashNew(ctx context.Context, password string) (string, error) {
	release, err := hashGate.Acquire(ctx)
	if err != nil {
		return "", fmt.Errorf("wait for a hash slot: %w", err)
	}
	defer release()
	return HashPassword(password), nil
}

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
// answer takes as long as for a known one: the cost of a real password's
// hash with a salt and key of zeros, which nothing matches. (Hashing a
// real password for it when the program starts cost every county-server
// command 64 MiB and a tenth of a second.)
var dummyHash = fmt.Sprintf("$argon2id$v=19$m=%d,t=3,p=2$%s$%s", passwordMemory, strings.Repeat("A", 22), strings.Repeat("A", 43))

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
	hash, err := hashNew(ctx, u.Password)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var id int64
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
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
	var hash string
	if password != "" {
		var err error
		if hash, err = hashNew(ctx, password); err != nil {
			return err
		}
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
			if _, err := tx.Exec(`UPDATE users SET password_hash = ?, failed = 0, locked_until = 0 WHERE id = ?`, hash, id); err != nil {
				return err
			}
		}
		// A changed role or scope takes effect at once: end the sessions.
		_, err = tx.Exec(`DELETE FROM sessions WHERE user_id = ?`, id)
		return err
	})
}

// LoginRequest is one attempt to log in.
type LoginRequest struct {
	Username, Password, Remote string
	// KnownDevice: the browser carries a device cookie this account logged
	// in with before (server/web checks its signature and keeps that
	// device's own lockout). Such an attempt neither counts toward nor
	// is held by the account's lockout, so whoever keeps an account locked
	// by guessing from elsewhere does not lock its owner out of their own
	// PC; and a success from it does not wipe the guesser's failures.
	KnownDevice bool
}

// Login checks a password and opens a session; it returns the session's
// token for the cookie. After MaxFailedLogins failures in a row the account
// is locked for LockoutFor, even for the right password; ErrLocked comes
// with the user, whose LockedUntil says until when.
//
// The attempt is counted as a failure before the password is hashed (one
// UPDATE … RETURNING in the writer's transaction) and settled after, so
// parallel guesses cannot all pass a check that was read before any of
// them was recorded. No more than MaxConcurrentHashes hashes run at once:
// beyond that Login returns ErrBusy at once, without reading anything.
func (s *SQLiteStore) Login(ctx context.Context, req LoginRequest) (*User, string, error) {
	now := s.now()
	var hash string
	// Read from the read pool: a login must not wait behind the stations'
	// pushes for the writer just to learn that an account is locked.
	u, err := scanUser(s.db.R.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE username = ?`, strings.TrimSpace(req.Username)))
	if err == nil {
		err = s.db.R.QueryRowContext(ctx, `SELECT password_hash FROM users WHERE id = ?`, u.ID).Scan(&hash)
	}
	if errors.Is(err, sql.ErrNoRows) || err == nil && u.DisabledAt != nil {
		release, ok := hashGate.TryAcquire()
		if !ok {
			return nil, "", ErrBusy
		}
		defer release()
		CheckPassword(dummyHash, req.Password)
		return u, "", ErrBadLogin
	}
	if err != nil {
		return nil, "", fmt.Errorf("login: %w", err)
	}
	// A lock seen here is refused without a hash slot or a write (a flood
	// against a locked account costs a read each); one not seen yet is
	// caught by the reservation, which is the check that counts.
	if !req.KnownDevice && now.Before(u.LockedUntil) {
		return u, "", ErrLocked
	}
	release, ok := hashGate.TryAcquire()
	if !ok {
		return nil, "", ErrBusy
	}
	defer release()
	n := 0 // this attempt's place in the account's run of failures
	if !req.KnownDevice {
		if n, err = s.reserveLogin(ctx, u, now); err != nil {
			return u, "", err
		}
	}
	match := CheckPassword(hash, req.Password)
	release()
	if !match {
		if n >= MaxFailedLogins {
			u.LockedUntil = now.Add(LockoutFor)
			return u, "", ErrLocked
		}
		return u, "", ErrBadLogin
	}
	token := randomToken()
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		// The success takes back its own reservation and forgives the
		// failures counted before it. Failures reserved after it (guesses
		// in flight beside it) stay, with the lock one of them may have
		// set.
		if n > 0 {
			if _, err := tx.Exec(`UPDATE users SET failed = max(failed - ?1, 0), locked_until = CASE WHEN failed - ?1 <= 0 THEN 0 ELSE locked_until END WHERE id = ?2`, n, u.ID); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(`DELETE FROM sessions WHERE expires_at < ?`, now.UnixMilli()); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO sessions (token_hash, user_id, created_at, last_seen, expires_at, remote) VALUES (?, ?, ?, ?, ?, ?)`,
			tokenHash(token), u.ID, now.UnixMilli(), now.UnixMilli(), now.Add(SessionMax).UnixMilli(), req.Remote)
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("login: %w", err)
	}
	u.Failed = 0
	return u, token, nil
}

// reserveLogin counts an attempt on u's password as failed before it is
// checked, and returns its place in the run of failures; the attempt that
// reaches MaxFailedLogins sets the lock, and a locked account is
// ErrLocked (u.LockedUntil set). A lock that has run out starts a new run.
//
// The trade-off: the lock is the account's, so someone guessing from
// anywhere can keep an account locked (five guesses every quarter hour);
// what that does not block is the owner's own browser (KnownDevice), and
// the per-address back-off in server/web slows the guesser. A locked
// account is also opened by an administrator setting a new password.
func (s *SQLiteStore) reserveLogin(ctx context.Context, u *User, now time.Time) (int, error) {
	var n int
	var locked int64
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		n, locked = 0, 0
		// All right-hand sides read the row as it was: "expired" is a lock
		// that has run out, whose failures no longer count.
		const expired = `(locked_until > 0 AND locked_until <= ?1)`
		err := tx.QueryRow(`UPDATE users SET
				failed = CASE WHEN `+expired+` THEN 1 ELSE failed + 1 END,
				locked_until = CASE WHEN (CASE WHEN `+expired+` THEN 1 ELSE failed + 1 END) >= ?2 THEN ?3
					WHEN `+expired+` THEN 0 ELSE locked_until END
			WHERE id = ?4 AND locked_until <= ?1
			RETURNING failed`, now.UnixMilli(), MaxFailedLogins, now.Add(LockoutFor).UnixMilli(), u.ID).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			return tx.QueryRow(`SELECT locked_until FROM users WHERE id = ?`, u.ID).Scan(&locked)
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("login: count attempt: %w", err)
	}
	if n == 0 {
		u.LockedUntil = time.UnixMilli(locked)
		return 0, ErrLocked
	}
	return n, nil
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

// auditor is the part of a store the station API uses to log enrollments.
type auditor interface {
	Audit(ctx context.Context, username, action, target, detail, remote string) error
}

// ChangePassword sets a new password for an account whose current password
// is given, and ends all its sessions. A wrong current password counts
// toward the account's lockout like a failed login (a session left open
// must not become a way to guess the password); a locked account is
// ErrLocked, a full hash gate ErrBusy.
func (s *SQLiteStore) ChangePassword(ctx context.Context, id int64, current, password string) error {
	if len([]rune(password)) < MinPasswordLen {
		return ErrWeakPassword
	}
	release, ok := hashGate.TryAcquire()
	if !ok {
		return ErrBusy
	}
	defer release()
	var hash string
	if err := s.db.W.QueryRowContext(ctx, `SELECT password_hash FROM users WHERE id = ?`, id).Scan(&hash); err != nil {
		return ErrNoUser
	}
	now := s.now()
	n, err := s.reserveLogin(ctx, &User{ID: id}, now)
	if err != nil {
		return err
	}
	if !CheckPassword(hash, current) {
		if n >= MaxFailedLogins {
			return ErrLocked
		}
		return ErrBadLogin
	}
	newHash := HashPassword(password)
	release()
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`UPDATE users SET password_hash = ?, failed = 0, locked_until = 0 WHERE id = ?`, newHash, id); err != nil {
			return err
		}
		_, err := tx.Exec(`DELETE FROM sessions WHERE user_id = ?`, id)
		return err
	})
}
