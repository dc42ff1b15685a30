package server

// What counts as a visit. A visit saved from an untouched form (no
// situation, no measures; older stations allowed it) or voided is no
// evidence that anyone went: it must not take a person off the overdue
// list, count as follow-up of a 紧急 visit, or count in the reports. These
// SQL terms say so once for every query that asks.

// visitHasContent is the SQL test, on the visits alias a, of a visit that
// records something: a situation or measures that are not blank. The
// station refuses new visits without a situation (records.CheckEntry); this
// keeps the blank ones older stations saved from counting as visits.
func (d *Database) visitHasContent(a string) string {
	return "(" + d.trimBlank(a+".situation") + " <> '' OR " + d.trimBlank(a+".measures") + " <> '') AND coalesce(" + a + ".void_reason, '') = ''"
}

// trimBlank is the text of column col (NULL as empty) with spaces, tabs,
// newlines and the full-width space taken off both ends. Each engine's
// partial index visits_blank repeats its spelling exactly.
func (d *Database) trimBlank(col string) string {
	if d.pg != nil {
		return "btrim(coalesce(" + col + ", ''), E' \\t\\n\\r\\u3000')"
	}
	return "trim(coalesce(" + col + ", ''), char(32, 9, 10, 13, 12288))"
}

// visitIsBlank is the WHERE of the partial index visits_blank (migration
// 0009), term for term, on the visits alias a: SQLite uses the index only
// when a query repeats it. A voided visit counts as blank: it proves no
// visit took place.
func (d *Database) visitIsBlank(a string) string {
	return "((" + d.trimBlank(a+".situation") + " = '' AND " + d.trimBlank(a+".measures") + " = '') OR coalesce(" + a + ".void_reason, '') <> '')"
}

// lastVisitSQL is the date of the last visit with content of the person
// alias p. A person without a blank visit, nearly everyone, takes the
// newest date from the covering index visits_person, as before blank
// visits were told apart; only a person the small index visits_blank
// names reads visit rows to skip the blank ones. (Reading rows for every
// person tripled the county-wide overdue list's time, 280 to 900 ms, at
// 100,000 persons and a million visits.)
func (d *Database) lastVisitSQL(p string) string {
	return `(CASE WHEN EXISTS (SELECT 1 FROM visits b WHERE b.person_id = ` + p + `.id AND ` + d.visitIsBlank("b") + `)
		THEN (SELECT v.visited_on FROM visits v WHERE v.person_id = ` + p + `.id AND ` + d.visitHasContent("v") + ` ORDER BY v.visited_on DESC LIMIT 1)
		ELSE (SELECT max(v.visited_on) FROM visits v WHERE v.person_id = ` + p + `.id) END)`
}

// laterVisitSQL is true when the person of the visit alias v has a later
// visit with content; read like lastVisitSQL, from the covering index
// unless a later visit is blank.
func (d *Database) laterVisitSQL(v string) string {
	later := "x.person_id = " + v + ".person_id AND x.visited_on > " + v + ".visited_on"
	return `(CASE WHEN EXISTS (SELECT 1 FROM visits b WHERE b.person_id = ` + v + `.person_id AND b.visited_on > ` + v + `.visited_on AND ` + d.visitIsBlank("b") + `)
		THEN EXISTS (SELECT 1 FROM visits x WHERE ` + later + ` AND ` + d.visitHasContent("x") + `)
		ELSE EXISTS (SELECT 1 FROM visits x WHERE ` + later + `) END)`
}
