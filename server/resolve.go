package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"stationsync/internal/records"
	"stationsync/syncproto"
)

// County-side changes other than decisions: editing fields the county may
// change, creating records (the 救助对象公示 of an approval), and resolving
// conflicts. Each goes through the same merger as a station's change, with
// CountyOrigin, so it lands in the feed and flows down on the station's
// next sync exactly as a decision does.

// ErrNotEditable says the county may not change that field.
var ErrNotEditable = errors.New("server: field not editable at the county")

// applyCounty merges one county change in tx. It must run under s.mu.
func (s *CountyStore) applyCounty(tx *sql.Tx, m *merger, village string, kind records.Kind, id string, fields records.Fields, base map[string]uint64, by string) error {
	now := s.now()
	o, err := m.apply(&change{
		origin: CountyOrigin, village: village, kind: kind, id: id, op: records.OpUpsert,
		fields: fields, base: base, hlc: s.clock.Now(), by: by, at: now.UnixMilli(), histID: "county." + randomID(8),
	})
	if err != nil {
		return err
	}
	if o.status == syncproto.Rejected {
		return fmt.Errorf("%w: %s", ErrNotEditable, o.reason)
	}
	return nil
}

// CountyCreate creates a record at the county (for a village) and returns
// its id. The station receives it on its next pull.
func (s *CountyStore) CountyCreate(ctx context.Context, village string, kind records.Kind, fields records.Fields, by string) (string, error) {
	if !ValidVillage(village, s.county) {
		return "", ErrBadVillage
	}
	if err := records.Validate(kind, fields, true); err != nil {
		return "", fmt.Errorf("%w: %v", ErrNotEditable, err)
	}
	id := "cty_" + randomID(12)
	err := s.countyWrite(ctx, func(tx *sql.Tx, m *merger) error {
		return s.applyCounty(tx, m, village, kind, id, fields, nil, by)
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// CountyEdit sets fields the county may edit on an existing record. The
// edit is based on the values the county holds now, so it is sequential,
// not a conflict.
func (s *CountyStore) CountyEdit(ctx context.Context, kind records.Kind, id string, fields records.Fields, by string) error {
	sch := records.SchemaOf(kind)
	if sch == nil {
		return ErrNotFound
	}
	for name := range fields {
		f, ok := sch.Field(name)
		if !ok || f.Owner == records.Station {
			return fmt.Errorf("%w: %s", ErrNotEditable, name)
		}
	}
	if err := records.Validate(kind, fields, false); err != nil {
		return fmt.Errorf("%w: %v", ErrNotEditable, err)
	}
	return s.countyWrite(ctx, func(tx *sql.Tx, m *merger) error {
		r, err := m.load(sch, id)
		if err != nil {
			return err
		}
		if !r.exists {
			return ErrNotFound
		}
		base := map[string]uint64{}
		for name := range fields {
			base[name] = r.versions[name]
		}
		return s.applyCounty(tx, m, r.village, kind, id, fields, base, by)
	})
}

// ResolveConflict settles a conflict: value nil keeps the record's current
// value; otherwise value becomes the field's value through a county change
// based on the current one. Every open conflict of the same field of the
// record is marked resolved, and the record goes back into the feed so
// the station drops the conflict and takes the value on its next sync.
func (s *CountyStore) ResolveConflict(ctx context.Context, id string, value json.RawMessage, by string) error {
	c, err := s.ConflictByID(ctx, id)
	if err != nil {
		return err
	}
	if c.ResolvedAt != nil {
		return fmt.Errorf("%w: 冲突已处理", ErrNotApplicable)
	}
	kind := records.Kind(c.Kind)
	sch := records.SchemaOf(kind)
	if sch == nil {
		return ErrNotFound
	}
	if value != nil {
		if err := records.Validate(kind, records.Fields{c.Field: value}, false); err != nil {
			return fmt.Errorf("%w: %v", ErrNotEditable, err)
		}
	}
	return s.countyWrite(ctx, func(tx *sql.Tx, m *merger) error {
		r, err := m.load(sch, c.RecordID)
		if err != nil {
			return err
		}
		if !r.exists {
			return ErrNotFound
		}
		changed := false
		if value != nil && !records.Equal(r.fields[c.Field], value) {
			f, _ := sch.Field(c.Field)
			if f.Owner == records.Station {
				return fmt.Errorf("%w: 「%s」由村站维护，县里只能保留现值", ErrNotEditable, f.Label)
			}
			if err := s.applyCounty(tx, m, r.village, kind, r.id, records.Fields{c.Field: value}, map[string]uint64{c.Field: r.versions[c.Field]}, by); err != nil {
				return err
			}
			changed = true
		}
		if _, err := tx.Exec(`UPDATE conflicts SET resolved_at = ? WHERE kind = ? AND record_id = ? AND field = ? AND resolved_at IS NULL`, m.now, c.Kind, c.RecordID, c.Field); err != nil {
			return fmt.Errorf("resolve conflict: %w", err)
		}
		if !changed {
			return m.touchFeed(kind, r.id)
		}
		return nil
	})
}
