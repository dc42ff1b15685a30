// Package gen makes realistic, deterministic records for tests, demos and
// benchmarks: people on a station's register, visits, assistance
// applications and village disclosures, with the vocabulary of DOMAIN.md.
//
// Determinism is the point: a Generator made with the same seed produces the
// same records in the same order on every platform, so a failing sync test
// can be replayed exactly and two stations in a test can be given the same
// "real" data. Nothing in the package reads the clock or iterates over a Go
// map while generating.
//
// Records are map[string]any holding only values encoding/json can write
// (string, int64, bool, []string, []any, map[string]any), the form in which
// fields travel. They carry no record id, village code, author or timestamp:
// the store assigns those when the record is created, exactly as at a real
// station.
//
// Sizes are realistic on purpose, because bandwidth estimates for 2G links
// and USB transfers are made with these records: a visit with its envelope
// (id, village, author, time) encodes to about 500–650 bytes of JSON.
//
// The names, ID numbers and phone numbers are invented. ID numbers are
// well-formed (idcard.Validate accepts them) but made up from random parts,
// so any resemblance to a real person is chance. Phone numbers use real
// mobile prefixes and may therefore belong to someone: a demo must never
// call or text them.
package gen
