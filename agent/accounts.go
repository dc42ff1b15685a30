package agent

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"stationsync/internal/loginguard"
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

// MaxConcurrentPINHashes bounds the PIN hashes the station runs at once
// (32 MiB each, 64 MiB in all on an old PC): two, so that a double click
// on 登录 is not told to wait.
const MaxConcurrentPINHashes = 2

// pinGate is the process's one bound on PIN hashes.
var pinGate = loginguard.NewGate(MaxConcurrentPINHashes)

// ErrBadPIN says the name or PIN does not match an account.
var ErrBadPIN = errors.New("姓名或密码不对")

// ErrBusy says every PIN-hash slot is taken: try again in a moment.
var ErrBusy = loginguard.ErrBusy

// PIN lengths. New PINs have at least MinPINDigits: ten thousand 4-digit
// PINs fall to a patient guesser within weeks even at five tries a minute,
// a million 6-digit ones do not. PINs made before keep working for
// log-in (WeakPIN tells the page to suggest a change).
const (
	MinPINDigits = 6
	MaxPINDigits = 12
)

// CheckPINFormat returns what is wrong with a new PIN, in Chinese words
// that say what is allowed (the pages show it by the box; the store
// refuses with it), or "" for a PIN of 6 to 12 ASCII digits.
func CheckPINFormat(pin string) string {
	if strings.Trim(pin, "0123456789") != "" {
		return fmt.Sprintf("密码只能是 %d 到 %d 位数字（0–9），不能有字母、空格或符号", MinPINDigits, MaxPINDigits)
	}
	if n := len(pin); n < MinPINDigits || n > MaxPINDigits {
		return fmt.Sprintf("密码应为 %d 到 %d 位数字，现在是 %d 位", MinPINDigits, MaxPINDigits, n)
	}
	return ""
}

// WeakPIN reports whether pin, which just logged in, is shorter than new
// PINs may be.
func WeakPIN(pin string) bool { return len(pin) < MinPINDigits }

func hashPIN(ctx context.Context, pin string) (string, error) {
	release, err := pinGate.Acquire(ctx)
	if err != nil {
		return "", fmt.Errorf("wait for a hash slot: %w", err)
	}
	defer release()
	return passhash.Hash(pin, pinMemory)
}

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
	h, err := hashPIN(ctx, pin)
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
// When MaxConcurrentPINHashes hashes already run it returns ErrBusy at
// once: the caller counts the attempt before calling (agent/web keeps the
// lockout) and answers "busy".
func (s *Store) Authenticate(ctx context.Context, id int64, pin string) (*Account, error) {
	release, ok := pinGate.TryAcquire()
	if !ok {
		return nil, ErrBusy
	}
	defer release()
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
	h, err := hashPIN(ctx, pin)
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
