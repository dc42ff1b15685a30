package records

import (
	"reflect"
	"testing"
)

// Reference names exactly the fields the schema checks as references, so
// the station's "is the person here?" and the county's feed touch cannot
// miss a reference field added to a schema later.
func TestReferenceMatchesSchema(t *testing.T) {
	ref := reflect.ValueOf(checkRef).Pointer()
	for _, k := range Kinds {
		var refs []string
		for _, f := range SchemaOf(k).Fields {
			if f.check != nil && reflect.ValueOf(f.check).Pointer() == ref {
				refs = append(refs, f.Name)
			}
		}
		field, target := Reference(k)
		switch {
		case len(refs) == 0 && field == "":
		case len(refs) == 1 && field == refs[0] && SchemaOf(target) != nil:
		default:
			t.Errorf("%s: schema references %v, Reference says %q → %q", k, refs, field, target)
		}
	}
	if f, target := Reference(Visit); f != "person_id" || target != Person {
		t.Errorf("visit: %q → %q", f, target)
	}
}
