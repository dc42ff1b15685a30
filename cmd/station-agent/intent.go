package main

import (
	"context"

	"stationsync/agent"
	"stationsync/internal/cli"
	"stationsync/internal/records"
)

// runIntent is `station-agent intent`: ask the county to submit, resubmit
// or withdraw an application.
func (e *env) runIntent(ctx context.Context, args []string) error {
	fs, data := e.flags("intent")
	app := fs.String("app", "", "application id")
	op := fs.String("op", "", "submit, resubmit or withdraw")
	by := fs.String("by", "", "who asks")
	comment := fs.String("comment", "", "comment")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	return withAgent(ctx, *data, agent.Config{}, e.Logger, func(a *agent.Agent) error {
		return a.Store.Intent(ctx, *app, records.Op(*op), *comment, *by)
	})
}
