package main

import (
	"context"

	"stationsync/internal/cli"
	"stationsync/internal/records"
	"stationsync/server"
)

// runRecords is `county-server records`, `rejected` and `conflicts`: the
// merged records, the refused changes and the kept conflicts as JSON, in
// the shapes `station-agent list` prints too (jsonout.go).
func (e *env) runRecords(ctx context.Context, cmd string, args []string) error {
	fs, o := e.flags(cmd)
	kind := fs.String("kind", "", "person, visit, application or disclosure")
	village := fs.String("village", "", "12-digit village code (empty: all)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	return withStore(ctx, o, e.Logger, func(st *server.CountyStore) error {
		var v any
		var err error
		switch cmd {
		case "records":
			v, err = recordsOut(ctx, st, records.Kind(*kind), *village)
		case "rejected":
			v, err = rejectedOut(ctx, st, *village)
		default:
			v, err = conflictsOut(ctx, st, *village)
		}
		if err != nil {
			return err
		}
		return cli.PrintJSON(e.Stdout, v)
	})
}
