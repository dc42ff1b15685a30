package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"stationsync/internal/hlc"
	"stationsync/internal/records"
	"stationsync/internal/sqlitedb"
	"stationsync/syncproto"
)

// One record as the county's record page shows it: its fields with where
// each came from, its stored versions, the person it is about, its
// conflicts. Each read is scoped: a record outside the user's township
// reads as missing.

// FieldVersion is the current value of one field and where it came from.
type FieldVersion struct {
	Name, Label string
	Value       json.RawMessage
	Origin      string // station id or CountyOrigin
	At          time.Time
}

// RecordDetail is everything the county knows of one record.
type RecordDetail struct {
	syncproto.Record
	Fields        []FieldVersion
	CreatedOrigin string
	ReceivedAt    time.Time
	AllConflicts  []ConflictRow // resolved ones too
}

// Record returns one record, or ErrNotFound when it does not exist or lies
// outside scope: a township account cannot tell another township's record
// from a missing one.
func (s *CountyStore) Record(ctx context.Context, kind records.Kind, id, scope string) (*RecordDetail, error) {
	sch := records.SchemaOf(kind)
	if sch == nil {
		return nil, ErrNotFound
	}
	rec, err := loadRecord(ctx, s.db.R, kind, id)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(rec.Village, scope) {
		return nil, ErrNotFound
	}
	d := &RecordDetail{Record: *rec}
	var origins string
	var received int64
	err = s.db.R.QueryRowContext(ctx, `SELECT origins, created_origin, received_at FROM `+sch.Table+` WHERE id = ?`, id).Scan(&origins, &d.CreatedOrigin, &received)
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", id, err)
	}
	d.ReceivedAt = time.UnixMilli(received)
	om := map[string]string{}
	json.Unmarshal([]byte(origins), &om)
	for _, f := range sch.Fields {
		v, ok := rec.Fields[f.Name]
		if !ok {
			continue
		}
		o := om[f.Name]
		if o == "" {
			o = d.CreatedOrigin
		}
		d.Fields = append(d.Fields, FieldVersion{Name: f.Name, Label: f.Label, Value: v, Origin: o, At: hlc.Timestamp(rec.Versions[f.Name]).Time()})
	}
	ids, err := sqlitedb.Column[string](ctx, s.db.R, `SELECT id FROM conflicts WHERE kind = ? AND record_id = ? ORDER BY at, id`, string(kind), id)
	if err != nil {
		return nil, fmt.Errorf("record conflicts: %w", err)
	}
	for _, cid := range ids {
		c, err := s.ConflictByID(ctx, cid)
		if err != nil {
			return nil, err
		}
		d.AllConflicts = append(d.AllConflicts, *c)
	}
	return d, nil
}

// RecordVersion is one stored version of a record (record_versions).
type RecordVersion struct {
	Rev        int64
	Fields     map[string]json.RawMessage
	Origins    map[string]string // per field, expanded
	UpdatedBy  string
	UpdatedAt  time.Time
	ReceivedAt time.Time
}

// Versions returns the stored versions of a record, oldest first. A record
// never changed after its creation has none: its row is its only version.
func (s *CountyStore) Versions(ctx context.Context, kind records.Kind, id string) ([]RecordVersion, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT rev, fields, origins, created_origin, updated_by, updated_at, received_at FROM record_versions WHERE kind = ? AND record_id = ? ORDER BY rev`, string(kind), id)
	if err != nil {
		return nil, fmt.Errorf("versions %s: %w", id, err)
	}
	defer rows.Close()
	var out []RecordVersion
	for rows.Next() {
		var v RecordVersion
		var fields, origins, created string
		var at, recv int64
		if err := rows.Scan(&v.Rev, &fields, &origins, &created, &v.UpdatedBy, &at, &recv); err != nil {
			return nil, fmt.Errorf("versions %s: %w", id, err)
		}
		v.UpdatedAt, v.ReceivedAt = time.UnixMilli(at), time.UnixMilli(recv)
		raw := map[string]json.RawMessage{}
		json.Unmarshal([]byte(fields), &raw)
		v.Fields = map[string]json.RawMessage{}
		sch := records.SchemaOf(kind)
		for name, val := range raw {
			if string(val) == "null" {
				continue
			}
			// Text columns come back as JSON strings, JSON columns as
			// JSON, integers as numbers: the form of Fields.
			v.Fields[name] = val
			if f, ok := sch.Field(name); ok && f.Type == records.Int {
				v.Fields[name] = json.RawMessage(strings.Trim(string(val), `"`))
			}
		}
		om := map[string]string{}
		json.Unmarshal([]byte(origins), &om)
		v.Origins = map[string]string{}
		for name := range v.Fields {
			v.Origins[name] = created
			if o := om[name]; o != "" {
				v.Origins[name] = o
			}
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// RelatedVisits returns the latest visits of a person.
func (s *CountyStore) RelatedVisits(ctx context.Context, personID string, limit int) ([]Row, error) {
	var out []Row
	rows, err := s.db.R.QueryContext(ctx, `SELECT id, village, visited_on, method, risk, situation FROM visits WHERE person_id = ? ORDER BY visited_on DESC LIMIT ?`, personID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var r Row
		var a, b, c, d sql.NullString
		if err := rows.Scan(&r.ID, &r.Village, &a, &b, &c, &d); err != nil {
			return nil, err
		}
		r.Cells = []string{a.String, b.String, c.String, d.String}
		out = append(out, r)
	}
	return out, rows.Err()
}

// SubjectName returns the name of the person a record is about: the person
// itself, a visit's 走访对象 or an application's 申请人; "" when unknown.
// Callers have already checked the record is within the user's scope, and
// the person lives in the same village.
func (s *CountyStore) SubjectName(ctx context.Context, kind records.Kind, id string) string {
	var q string
	switch kind {
	case records.Person:
		q = `SELECT name FROM persons WHERE id = ?`
	case records.Visit:
		q = `SELECT p.name FROM visits v JOIN persons p ON p.id = v.person_id WHERE v.id = ?`
	case records.Application:
		q = `SELECT p.name FROM applications a JOIN persons p ON p.id = a.applicant_id WHERE a.id = ?`
	default:
		return ""
	}
	var name sql.NullString
	if err := s.db.R.QueryRowContext(ctx, q, id).Scan(&name); err != nil {
		return ""
	}
	return name.String
}

// ApplicationBrief is what the disclosure of an approval needs.
type ApplicationBrief struct {
	ID, Village, Type, Status, ApplicantName, ApplicantIDNumber, ApprovedFrom string
	ApprovedFen                                                               int64
}

// Application returns the brief of an application within scope.
func (s *CountyStore) Application(ctx context.Context, id, scope string) (*ApplicationBrief, error) {
	var a ApplicationBrief
	var name, idn, from, typ, status sql.NullString
	var fen sql.NullInt64
	err := s.db.R.QueryRowContext(ctx, `SELECT a.id, a.village, a.type, a.status, p.name, p.id_number, a.approved_amount_fen, a.approved_from
		FROM applications a LEFT JOIN persons p ON p.id = a.applicant_id WHERE a.id = ?`, id).Scan(&a.ID, &a.Village, &typ, &status, &name, &idn, &fen, &from)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(a.Village, scope) {
		return nil, ErrNotFound
	}
	a.Type, a.Status, a.ApplicantName, a.ApplicantIDNumber, a.ApprovedFrom, a.ApprovedFen = typ.String, status.String, name.String, idn.String, from.String, fen.Int64
	return &a, nil
}
