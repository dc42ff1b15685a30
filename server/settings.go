package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
)

// The county's settings: JSON values by key in the settings table, set on
// the settings page. Each setting's key and default are here, read by one
// method, so the pages and the background work read it alike.

// The keys of the settings.
const (
	SettingVisitPolicy   = "visit_policy"   // VisitPolicy
	SettingSilentDays    = "silent_days"    // int: days without contact before a station counts as silent
	SettingDirectApprove = "direct_approve" // bool: county reviewers may approve or reject from 已提交 in one step
)

// Setting reads a JSON setting into v; a missing one leaves v as is.
func (s *CountyStore) Setting(ctx context.Context, key string, v any) error {
	var raw string
	err := s.db.R.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(raw), v)
}

// SetSetting writes a JSON setting.
func (s *CountyStore) SetSetting(ctx context.Context, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, string(raw))
		return err
	})
}

// VisitPolicy is the number of days between visits per person category;
// a person is due after the shortest interval of their categories.
type VisitPolicy struct {
	Days        map[string]int `json:"days"`
	DefaultDays int            `json:"default_days"`
	ReviewMonth int            `json:"review_months"` // 应退即退: approvals older than this are due for review
}

// DefaultVisitPolicy is DOMAIN.md's sensible default.
func DefaultVisitPolicy() VisitPolicy {
	return VisitPolicy{Days: map[string]int{"农村留守老年人": 30, "困境儿童": 30, "特困人员": 30}, DefaultDays: 90, ReviewMonth: 12}
}

// Policy returns the configured visit policy.
//
// A saved policy replaces the default one, categories included: decoded
// over the default, JSON would merge the maps, and a category whose
// interval an administrator cleared would fall back to the default's 30
// days (and a "days": null would leave no map at all).
func (s *CountyStore) Policy(ctx context.Context) VisitPolicy {
	p := DefaultVisitPolicy()
	var saved VisitPolicy
	var raw json.RawMessage
	if err := s.Setting(ctx, SettingVisitPolicy, &raw); err == nil && raw != nil && json.Unmarshal(raw, &saved) == nil {
		p = saved
	}
	if p.Days == nil {
		p.Days = map[string]int{}
	}
	for c, d := range p.Days {
		if d <= 0 {
			delete(p.Days, c)
		}
	}
	if p.DefaultDays <= 0 {
		p.DefaultDays = 90
	}
	if p.ReviewMonth <= 0 {
		p.ReviewMonth = 12
	}
	return p
}

// DefaultSilentDays is how long a station may be out of contact before
// the pages call it silent, unless the settings say otherwise.
const DefaultSilentDays = 3

// SilentDays returns the configured days without contact after which a
// station counts as silent (DefaultSilentDays when unset or not positive).
func (s *CountyStore) SilentDays(ctx context.Context) int {
	n := DefaultSilentDays
	s.Setting(ctx, SettingSilentDays, &n)
	if n <= 0 {
		n = DefaultSilentDays
	}
	return n
}

// DirectApprove reports whether county reviewers may approve or reject an
// application from 已提交 in one action (the default) or must take each
// step.
func (s *CountyStore) DirectApprove(ctx context.Context) bool {
	allow := true
	s.Setting(ctx, SettingDirectApprove, &allow)
	return allow
}
