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
)

// Logging in and sessions: the lockout after MaxFailedLogins, the hash
// gate, and sessions that end when idle for SessionIdle or after
// SessionMax.

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
func (s *CountyStore) Login(ctx context.Context, req LoginRequest) (*User, string, error) {
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
			if _, err := tx.Exec(`UPDATE users SET failed = `+s.db.greatest("failed - ?1", "0")+`, locked_until = CASE WHEN failed - ?1 <= 0 THEN 0 ELSE locked_until END WHERE id = ?2`, n, u.ID); err != nil {
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
func (s *CountyStore) reserveLogin(ctx context.Context, u *User, now time.Time) (int, error) {
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
func (s *CountyStore) Session(ctx context.Context, token string) (*User, error) {
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
func (s *CountyStore) Logout(ctx context.Context, token string) error {
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
