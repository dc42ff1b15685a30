package agent

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"stationsync/internal/passhash"

	"stationsync/internal/records"
)

// Account is a cadre who works at this station's PC. Accounts are local:
// they work offline and never go to the county.
type Account struct {
	ID        int64
	Name      string
	CreatedAt int64
	CreatedBy string
	Disabled  bool
}

// pinMemory is argon2id's memory in KiB: a station PC is old, and a PIN
// is checked once per log-in.
const pinMemory = 32 * 1024

// ErrBadPIN says the name or PIN does not match an account.
var ErrBadPIN = errors.New("姓名或密码不对")

// CheckPINFormat returns a Chinese message when pin is not 4 to 12 digits.
func CheckPINFormat(pin string) string {
	if n := len(pin); n < 4 || n > 12 {
		return "密码应为 4 到 12 位数字"
	}
	for _, r := range pin {
		if r < '0' || r > '9' {
			return "密码只能是数字"
		}
	}
	return ""
}

func hashPIN(pin string) (string, error) { return passhash.Hash(pin, pinMemory) }

func verifyPIN(hash, pin string) bool { return passhash.Verify(hash, pin) }

// CreateAccount adds a cadre account; by names who added it ("" for the
// first account, made on the first run).
func (s *Store) CreateAccount(ctx context.Context, name, pin, by string) (*Account, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, &records.FieldError{Field: "name", Message: "请填写姓名"}
	}
	if utf8.RuneCountInString(name) > 20 {
		return nil, &records.FieldError{Field: "name", Message: "姓名不能超过20个字"}
	}
	if msg := CheckPINFormat(pin); msg != "" {
		return nil, &records.FieldError{Field: "pin", Message: msg}
	}
	h, err := hashPIN(pin)
	if err != nil {
		return nil, fmt.Errorf("hash pin: %w", err)
	}
	a := &Account{Name: name, CreatedAt: s.clock.Physical().UnixMilli(), CreatedBy: by}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		var n int
		tx.QueryRow(`SELECT count(*) FROM accounts WHERE name = ?`, name).Scan(&n)
		if n > 0 {
			return &records.FieldError{Field: "name", Message: "已有同名账号「" + name + "」，请在姓名后加以区分，如「" + name + "（妇联）」"}
		}
		res, err := tx.Exec(`INSERT INTO accounts (name, pin_hash, created_at, created_by) VALUES (?, ?, ?, ?)`, name, h, a.CreatedAt, by)
		if err != nil {
			return fmt.Errorf("create account: %w", err)
		}
		a.ID, _ = res.LastInsertId()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Accounts lists the accounts, enabled ones first, by name.
func (s *Store) Accounts(ctx context.Context) ([]Account, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT id, name, created_at, created_by, disabled FROM accounts ORDER BY disabled, name`)
	if err != nil {
		return nil, fmt.Errorf("accounts: %w", err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		var a Account
		if err := rows.Scan(&a.ID, &a.Name, &a.CreatedAt, &a.CreatedBy, &a.Disabled); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// AccountCount counts the accounts, disabled ones included.
func (s *Store) AccountCount(ctx context.Context) (int, error) {
	var n int
	err := s.db.R.QueryRowContext(ctx, `SELECT count(*) FROM accounts`).Scan(&n)
	return n, err
}

// Account returns one account.
func (s *Store) Account(ctx context.Context, id int64) (*Account, error) {
	var a Account
	err := s.db.R.QueryRowContext(ctx, `SELECT id, name, created_at, created_by, disabled FROM accounts WHERE id = ?`, id).
		Scan(&a.ID, &a.Name, &a.CreatedAt, &a.CreatedBy, &a.Disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return &a, err
}

// Authenticate checks an account's PIN. A disabled account never matches.
func (s *Store) Authenticate(ctx context.Context, id int64, pin string) (*Account, error) {
	var a Account
	var h string
	err := s.db.R.QueryRowContext(ctx, `SELECT id, name, created_at, created_by, disabled, pin_hash FROM accounts WHERE id = ?`, id).
		Scan(&a.ID, &a.Name, &a.CreatedAt, &a.CreatedBy, &a.Disabled, &h)
	if errors.Is(err, sql.ErrNoRows) {
		verifyPIN("$argon2id$v=19$m=32768,t=3,p=2$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", pin) // same time either way
		return nil, ErrBadPIN
	}
	if err != nil {
		return nil, err
	}
	if !verifyPIN(h, pin) || a.Disabled {
		return nil, ErrBadPIN
	}
	return &a, nil
}

// SetPIN replaces an account's PIN.
func (s *Store) SetPIN(ctx context.Context, id int64, pin string) error {
	if msg := CheckPINFormat(pin); msg != "" {
		return &records.FieldError{Field: "pin", Message: msg}
	}
	h, err := hashPIN(pin)
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE accounts SET pin_hash = ? WHERE id = ?`, h, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// SetAccountDisabled turns an account off (a cadre who left) or on again.
func (s *Store) SetAccountDisabled(ctx context.Context, id int64, disabled bool) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE accounts SET disabled = ? WHERE id = ?`, disabled, id)
		return err
	})
}
