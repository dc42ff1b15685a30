package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"bytes"
)

// Station is an enrolled station.
type Station struct {
	ID            string     `json:"id"`
	Village       string     `json:"village"`
	PublicKey     []byte     `json:"-"`
	Hostname      string     `json:"hostname"`
	AgentVersion  string     `json:"agent_version"`
	EnrolledAt    time.Time  `json:"enrolled_at"`
	RevokedAt     *time.Time `json:"revoked_at,omitempty"`
	LastContactAt *time.Time `json:"last_contact_at,omitempty"`
	LastPushAt    *time.Time `json:"last_push_at,omitempty"`
	Pending       int        `json:"pending"`
	ClockOffsetMs int64      `json:"clock_offset_ms"`
	ClockAhead    bool       `json:"clock_ahead"`
}

func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func hashCode(code string) string {
	h := sha256.Sum256([]byte(normalizeCode(code)))
	return hex.EncodeToString(h[:])
}

func normalizeCode(code string) string {
	return strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(code)))
}

// codeAlphabet leaves out 0/O and 1/I/L, which cadres misread on paper.
const codeAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// ValidVillage reports whether v is a 12-digit village code of county.
func ValidVillage(v, county string) bool {
	if len(v) != 12 || strings.Trim(v, "0123456789") != "" {
		return false
	}
	return county == "" || strings.HasPrefix(v, county)
}

// CreateCode makes a one-time enrollment code for a village.
func (s *CountyStore) CreateCode(ctx context.Context, village string, ttl time.Duration) (string, error) {
	if !ValidVillage(village, s.county) {
		return "", ErrBadVillage
	}
	b := make([]byte, 10)
	rand.Read(b)
	var sb strings.Builder
	for i, x := range b {
		if i == 5 {
			sb.WriteByte('-')
		}
		sb.WriteByte(codeAlphabet[int(x)%len(codeAlphabet)])
	}
	code := sb.String()
	now := s.now()
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO enrol_codes (code_hash, village, created_at, expires_at) VALUES (?, ?, ?, ?)`,
			hashCode(code), village, now.UnixMilli(), now.Add(ttl).UnixMilli())
		return err
	})
	if err != nil {
		return "", fmt.Errorf("create code: %w", err)
	}
	return code, nil
}

// Enroll exchanges a code for a station identity, once.
func (s *CountyStore) Enroll(ctx context.Context, code string, pub []byte, hostname, agentVersion string) (*Station, error) {
	var st *Station
	now := s.now()
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var village string
		var expires int64
		var used sql.NullInt64
		var usedBy sql.NullString
		err := tx.QueryRow(`SELECT village, expires_at, used_at, used_by FROM enrol_codes WHERE code_hash = ?`, hashCode(code)).Scan(&village, &expires, &used, &usedBy)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return ErrCodeInvalid
		case err != nil:
			return err
		case used.Valid:
			// The same station asking again (its first answer was lost on
			// the way back) gets the identity it already has.
			prev, err := scanStation(tx.QueryRow(`SELECT `+stationCols+` FROM stations WHERE id = ?`, usedBy.String))
			if err == nil && bytes.Equal(prev.PublicKey, pub) && prev.RevokedAt == nil {
				st = prev
				return nil
			}
			return ErrCodeUsed
		case now.UnixMilli() > expires:
			return ErrCodeExpired
		}
		st = &Station{ID: "st_" + randomID(8), Village: village, PublicKey: pub, Hostname: hostname, AgentVersion: agentVersion, EnrolledAt: now}
		if _, err := tx.Exec(`UPDATE enrol_codes SET used_at = ?, used_by = ? WHERE code_hash = ?`, now.UnixMilli(), st.ID, hashCode(code)); err != nil {
			return err
		}
		_, err = tx.Exec(`INSERT INTO stations (id, village, public_key, hostname, agent_version, enrolled_at, last_contact_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			st.ID, village, pub, hostname, agentVersion, now.UnixMilli(), now.UnixMilli())
		return err
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

const stationCols = `id, village, public_key, hostname, agent_version, enrolled_at, revoked_at, last_contact_at, last_push_at, pending, clock_offset_ms, clock_ahead`

func scanStation(sc interface{ Scan(...any) error }) (*Station, error) {
	var st Station
	var enrolled int64
	var revoked, contact, push sql.NullInt64
	if err := sc.Scan(&st.ID, &st.Village, &st.PublicKey, &st.Hostname, &st.AgentVersion, &enrolled, &revoked, &contact, &push, &st.Pending, &st.ClockOffsetMs, &st.ClockAhead); err != nil {
		return nil, err
	}
	st.EnrolledAt = time.UnixMilli(enrolled)
	st.RevokedAt, st.LastContactAt, st.LastPushAt = msPtr(revoked), msPtr(contact), msPtr(push)
	return &st, nil
}

func msPtr(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := time.UnixMilli(n.Int64)
	return &t
}

// Station returns one station, revoked or not.
func (s *CountyStore) Station(ctx context.Context, id string) (*Station, error) {
	st, err := scanStation(s.db.R.QueryRowContext(ctx, `SELECT `+stationCols+` FROM stations WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoStation
	}
	if err != nil {
		return nil, fmt.Errorf("station %s: %w", id, err)
	}
	return st, nil
}

// Stations lists every station.
func (s *CountyStore) Stations(ctx context.Context) ([]Station, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT `+stationCols+` FROM stations ORDER BY village, enrolled_at`)
	if err != nil {
		return nil, fmt.Errorf("list stations: %w", err)
	}
	defer rows.Close()
	var out []Station
	for rows.Next() {
		st, err := scanStation(rows)
		if err != nil {
			return nil, fmt.Errorf("list stations: %w", err)
		}
		out = append(out, *st)
	}
	return out, rows.Err()
}

// Revoke refuses every later request of a station.
func (s *CountyStore) Revoke(ctx context.Context, id string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE stations SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, s.now().UnixMilli(), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNoStation
		}
		return nil
	})
}

// Touch records that a station was heard from.
// lastError is the station's own last sync failure ("" if it had none).
//
// Every pull touches, so under a herd touches are as many as pushes. Each
// in a transaction of its own cost a commit (fsyncs) and the writer
// connection between two group commits: pushes waited for touches. So a
// touch joins the writer's queue and is written in the next group commit
// (push.go), and returns, as before, once it is committed.
func (s *CountyStore) Touch(ctx context.Context, id string, pending int, agentVersion, lastError string, offset time.Duration) error {
	req := &pushReq{ctx: ctx, touch: &contact{id: id, pending: pending, agentVersion: agentVersion, lastError: lastError, offsetMs: offset.Milliseconds(), at: s.now().UnixMilli()}}
	s.write(req)
	return req.err
}

// contact is what Touch writes.
type contact struct {
	id, agentVersion, lastError string
	pending                     int
	offsetMs, at                int64
}

func (c *contact) save(tx *sql.Tx) error {
	_, err := tx.Exec(`UPDATE stations SET last_contact_at = ?, pending = ?, agent_version = coalesce(nullif(?, ''), agent_version), clock_offset_ms = ?,
		last_error = ?, last_error_at = CASE WHEN ? = '' THEN last_error_at ELSE ? END WHERE id = ?`,
		c.at, c.pending, c.agentVersion, c.offsetMs, c.lastError, c.lastError, c.at, c.id)
	if err != nil {
		return fmt.Errorf("touch station %s: %w", c.id, err)
	}
	return nil
}

// StationsIn returns the stations within scope.
func (s *CountyStore) StationsIn(ctx context.Context, scope string) ([]Station, error) {
	all, err := s.Stations(ctx)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, st := range all {
		if strings.HasPrefix(st.Village, scope) {
			out = append(out, st)
		}
	}
	return out, nil
}
