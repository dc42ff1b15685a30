package server

import (
	"context"
	"database/sql"
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

func (s *CountyStore) checkNewUser(u *NewUser) error {
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
func (s *CountyStore) CreateUser(ctx context.Context, u NewUser) (*User, error) {
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
		// RETURNING, not LastInsertId: PostgreSQL's driver has none.
		return tx.QueryRow(`INSERT INTO users (username, display_name, role, township, full_numbers, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			u.Username, u.DisplayName, u.Role, u.Township, u.FullNumbers, hash, now.UnixMilli()).Scan(&id)
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
func (s *CountyStore) User(ctx context.Context, id int64) (*User, error) {
	u, err := scanUser(s.db.W.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoUser
	}
	return u, err
}

// Users lists every account.
func (s *CountyStore) Users(ctx context.Context) ([]User, error) {
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
func (s *CountyStore) UserCount(ctx context.Context) (int, error) {
	var n int
	err := s.db.R.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, err
}

// UpdateUser changes an account's role, scope, number permission, and
// (when password is not empty) password; disabled ends its sessions.
func (s *CountyStore) UpdateUser(ctx context.Context, id int64, role, township string, fullNumbers, disabled bool, password string) error {
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
		res, err := tx.Exec(`UPDATE users SET role = ?, township = ?, full_numbers = ?, disabled_at = CASE WHEN CAST(? AS BIGINT) IS NULL THEN NULL ELSE coalesce(disabled_at, ?) END WHERE id = ?`,
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

// ChangePassword sets a new password for an account whose current password
// is given, and ends all its sessions. A wrong current password counts
// toward the account's lockout like a failed login (a session left open
// must not become a way to guess the password); a locked account is
// ErrLocked, a full hash gate ErrBusy.
func (s *CountyStore) ChangePassword(ctx context.Context, id int64, current, password string) error {
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
