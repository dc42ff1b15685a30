package records

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
)

// ScanTargets returns one scan destination per field of s, for rows whose
// columns are the fields in order.
func (s *Schema) ScanTargets() []any {
	out := make([]any, len(s.Fields))
	for i, f := range s.Fields {
		if f.Type == Int {
			out[i] = new(sql.NullInt64)
		} else {
			out[i] = new(sql.NullString)
		}
	}
	return out
}

// FromScan turns scanned field columns into JSON values; NULL columns are
// left out.
func (s *Schema) FromScan(targets []any) Fields {
	out := make(Fields, len(s.Fields))
	for i, f := range s.Fields {
		switch t := targets[i].(type) {
		case *sql.NullInt64:
			if t.Valid {
				out[f.Name] = json.RawMessage(strconv.FormatInt(t.Int64, 10))
			}
		case *sql.NullString:
			if !t.Valid {
				continue
			}
			if f.Type == JSON {
				out[f.Name] = json.RawMessage(t.String)
			} else {
				b, _ := json.Marshal(t.String)
				out[f.Name] = b
			}
		}
	}
	return out
}

// SQLValues turns a record's fields into column values in field order;
// absent fields and JSON null become NULL. Values must have been validated.
func (s *Schema) SQLValues(fields Fields) ([]any, error) {
	out := make([]any, len(s.Fields))
	for i, f := range s.Fields {
		raw, ok := fields[f.Name]
		if !ok || len(raw) == 0 || string(raw) == "null" {
			out[i] = nil
			continue
		}
		switch f.Type {
		case Text:
			v, err := decodeText(raw)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.Name, err)
			}
			out[i] = v
		case Int:
			v, err := decodeInt(raw)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.Name, err)
			}
			out[i] = v
		default:
			out[i] = string(Canonical(raw))
		}
	}
	return out, nil
}

// TextValue returns a Text field's string value, "" when absent.
func TextValue(fields Fields, name string) string {
	s, _ := decodeText(fields[name])
	return s
}

// JSONText encodes a Go string as a JSON value.
func JSONText(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}
