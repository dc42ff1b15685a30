package server

import (
	"strings"
	"testing"
)

// A person's last visit is read from the covering index, and the blank
// visits from their own small partial index: the query must repeat that
// index's WHERE terms, and nothing else holds it to that.
func TestLastVisitUsesTheIndexes(t *testing.T) {
	s := openTestStore(t)
	rows, err := s.db.R.Query(`EXPLAIN QUERY PLAN SELECT p.id, ` + lastVisitSQL("p") + ` FROM persons p`)
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	rows.Close()
	p := strings.Join(plan, "; ")
	if !strings.Contains(p, "USING INDEX visits_blank") && !strings.Contains(p, "USING COVERING INDEX visits_blank") {
		t.Errorf("blank visits not read from visits_blank: %s", p)
	}
	if !strings.Contains(p, "USING COVERING INDEX visits_person") {
		t.Errorf("the last visit is not read from the covering visits_person: %s", p)
	}
}
