package records

// Reference names the field of kind k that points at another record and
// the kind it points at, or "" when k points at nothing. Both the station
// (refusing to save a visit of a person it does not hold) and the county
// (touching the person's feed entry) follow it, so it is written once.
func Reference(k Kind) (field string, target Kind) {
	switch k {
	case Visit:
		return "person_id", Person
	case Application:
		return "applicant_id", Person
	}
	return "", ""
}
