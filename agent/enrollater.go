package agent

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"stationsync/syncproto"
)

// A kept enrollment. The code is a one-time secret: whoever uses it first
// becomes the village's station at the county. It cannot be kept as a hash,
// since it must be sent as it is once the county can be reached, so it is
// kept sealed: AES-GCM under a key derived (HKDF-SHA256) from the station's
// private key, in station.key (0600, the key the enrollment binds anyway),
// with the server address as additional data. A copy of station.db alone
// (a backup, a file sent for support, the copy kept before a migration)
// then holds no usable code, and a server address changed in the database
// does not unseal it. Whoever can read station.key can read both, but can
// then already act as this station.

const (
	metaKeptServer metaKey[string] = "enrol_server"
	metaKeptSealed metaKey[string] = "enrol_code_sealed"
	// metaKeptClear is where releases before this one kept the code in
	// clear; sealKeptCode moves it.
	metaKeptClear metaKey[string] = "enrol_code"
)

// codeAEAD is the cipher that seals a kept code; a.key must be set.
func (a *Agent) codeAEAD() (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, a.key.Seed(), nil, "stationsync kept enrolment code v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithRandomNonce(block)
}

func (a *Agent) sealCode(server, code string) (string, error) {
	aead, err := a.codeAEAD()
	if err != nil {
		return "", fmt.Errorf("seal enrolment code: %w", err)
	}
	return base64.StdEncoding.EncodeToString(aead.Seal(nil, nil, []byte(code), []byte(server))), nil
}

// errUnseal says a kept code cannot be read back: station.key was replaced
// or the database edited.
var errUnseal = errors.New("保存的注册码无法读取（密钥文件已更换或数据库被改动）：请重新运行 station-agent enroll 或在站点页面注册")

func (a *Agent) openCode(server, sealed string) (string, error) {
	aead, err := a.codeAEAD()
	if err != nil {
		return "", err
	}
	b, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil {
		return "", errUnseal
	}
	code, err := aead.Open(nil, nil, b, []byte(server))
	if err != nil {
		return "", errUnseal
	}
	return string(code), nil
}

// EnrollLater keeps an enrollment to complete when the county can be reached:
// Run tries it on every round until it succeeds, and until then the
// station records offline as usual.
func (a *Agent) EnrollLater(ctx context.Context, serverURL, code string) error {
	otp, pin := syncproto.SplitEnrollCode(code)
	if otp == "" {
		return errors.New("注册码格式不正确")
	}
	if err := checkPinnedURL(serverURL, pin); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.ensureKey(); err != nil {
		return err
	}
	sealed, err := a.sealCode(serverURL, code)
	if err != nil {
		return err
	}
	if err := a.Store.SetMeta(ctx, putMeta(putMeta(metaValues{}, metaKeptServer, serverURL), metaKeptSealed, sealed)); err != nil {
		return err
	}
	return a.Store.scrubMeta(ctx, metaKeptClear)
}

// PendingEnrollment returns the server of an enrollment kept for later ("" if
// none).
func (a *Agent) PendingEnrollment(ctx context.Context) string {
	if a.Enrolled(ctx) {
		return ""
	}
	return a.Store.text(ctx, metaKeptServer)
}

// sealKeptCode seals a code an older release kept in clear, and wipes the
// clear one from the database file and its WAL. It runs in the service
// (Run), whose account is the one that must own the key it may make.
func (a *Agent) sealKeptCode(ctx context.Context) {
	code := a.Store.text(ctx, metaKeptClear)
	if code == "" {
		return
	}
	server := a.Store.text(ctx, metaKeptServer)
	if a.Enrolled(ctx) || server == "" {
		// Used already, or never complete: nothing to keep.
		if err := a.Store.scrubMeta(ctx, metaKeptClear); err != nil {
			a.logger.Error("clear enrolment code not wiped", "err", err)
		}
		return
	}
	err := func() error {
		a.mu.Lock()
		defer a.mu.Unlock()
		if err := a.ensureKey(); err != nil {
			return err
		}
		sealed, err := a.sealCode(server, code)
		if err != nil {
			return err
		}
		if err := a.Store.SetMeta(ctx, putMeta(metaValues{}, metaKeptSealed, sealed)); err != nil {
			return err
		}
		return a.Store.scrubMeta(ctx, metaKeptClear)
	}()
	if err != nil {
		a.logger.Error("kept enrolment code not sealed", "err", err)
		return
	}
	a.logger.Info("kept enrolment code sealed")
}

// enrollPending completes a kept enrollment; true when the station is now
// enrolled. A refusal (a used or expired code) stays in last_error, where
// the pages and status show it: the cadre needs a new code.
func (a *Agent) enrollPending(ctx context.Context) bool {
	server, sealed := a.Store.text(ctx, metaKeptServer), a.Store.text(ctx, metaKeptSealed)
	if server == "" || sealed == "" {
		return false
	}
	a.mu.Lock()
	var err error
	if a.key == nil {
		err = a.loadKey() // made by `station-agent enroll` beside the service
	}
	if err == nil && a.key == nil {
		err = errUnseal
	}
	var code string
	if err == nil {
		code, err = a.openCode(server, sealed)
	}
	a.mu.Unlock()
	if err != nil {
		a.Store.SetMeta(ctx, putMeta(metaValues{}, metaLastError, "注册未完成: "+err.Error()))
		a.logger.Error("kept enrolment unreadable", "err", err)
		return false
	}
	if _, err := a.Enroll(ctx, server, code); err != nil {
		a.Store.SetMeta(ctx, putMeta(metaValues{}, metaLastError, "注册未完成: "+err.Error()))
		var pe *syncproto.Error
		if !errors.As(err, &pe) {
			a.logger.Info("enrolment kept for later: county not reachable", "err", err)
		} else {
			a.logger.Error("enrolment refused by the county", "code", pe.Code, "reason", pe.Message)
		}
		return false
	}
	a.Store.SetMeta(ctx, putMeta(putMeta(putMeta(metaValues{}, metaKeptServer, ""), metaKeptSealed, ""), metaLastError, ""))
	return true
}

// scrubMeta deletes a meta value so that its bytes are gone from the file:
// secure_delete overwrites the freed cell, and the truncating checkpoint
// empties the WAL, whose older frames still hold it.
func (s *Store) scrubMeta(ctx context.Context, key metaKey[string]) error {
	conn, err := s.db.W.Conn(ctx)
	if err != nil {
		return fmt.Errorf("writer connection: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
		return fmt.Errorf("secure_delete: %w", err)
	}
	_, err = conn.ExecContext(context.Background(), `DELETE FROM meta WHERE key = ?`, key)
	conn.ExecContext(context.Background(), `PRAGMA secure_delete = OFF`)
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	// A reader holding an old snapshot keeps the WAL; the next idle
	// checkpoint truncates it.
	conn.ExecContext(context.Background(), `PRAGMA wal_checkpoint(TRUNCATE)`)
	return nil
}
