package records

import (
	"errors"
	"testing"
)

func visitFields(situation *string) Fields {
	f := Fields{"person_id": JSONText("0123456789abcdef"), "visited_on": JSONText("2026-11-01"), "method": JSONText("入户走访"), "risk": JSONText("正常")}
	f["visitors"] = []byte(`["王芳"]`)
	if situation != nil {
		f["situation"] = JSONText(*situation)
	}
	return f
}

// A new visit must say what the cadre saw: every blank spelling is refused
// with the message that says what to fill in; any text is accepted.
func TestVisitNeedsSituation(t *testing.T) {
	blanks := []string{"", " ", "\t\n", "　", "　 \r\n　"}
	for _, b := range blanks {
		err := CheckEntry(Visit, visitFields(&b), true)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "situation" || fe.Message != MsgVisitSituation {
			t.Errorf("situation %q: %v", b, err)
		}
		// An edit that empties it is refused too.
		if err := CheckEntry(Visit, Fields{"situation": JSONText(b)}, false); err == nil {
			t.Errorf("edit to situation %q accepted", b)
		}
	}
	if err := CheckEntry(Visit, visitFields(nil), true); err == nil {
		t.Error("a new visit without a situation accepted")
	}
	for _, ok := range []string{"老人在家", " 电话回访，本人接听。 ", "x"} {
		if err := CheckEntry(Visit, visitFields(&ok), true); err != nil {
			t.Errorf("situation %q refused: %v", ok, err)
		}
	}
	// An edit that leaves the situation alone needs none.
	if err := CheckEntry(Visit, Fields{"next_due": JSONText("2026-12-01")}, false); err != nil {
		t.Errorf("edit of another field: %v", err)
	}
	// Other kinds are not concerned.
	if err := CheckEntry(Person, Fields{}, true); err != nil {
		t.Errorf("person: %v", err)
	}
	// The merge's own validation still accepts a blank visit that an older
	// station sent.
	blank := ""
	if err := Validate(Visit, visitFields(&blank), true); err != nil {
		t.Errorf("Validate refuses an old blank visit: %v", err)
	}
}
