package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"stationsync/agent"
	"stationsync/internal/cli"
	"stationsync/internal/records"
)

// runAdd is `station-agent add`: save a record from a JSON object of its
// fields and print its id.
func (e *env) runAdd(ctx context.Context, args []string) error {
	fs, data := e.flags("add")
	kind := fs.String("kind", "", "person, visit, application or disclosure")
	id := fs.String("id", "", "record id, to edit an existing record")
	by := fs.String("by", "", "who records it")
	file := fs.String("file", "-", "JSON object of fields; - reads standard input")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	r := e.Stdin
	if *file != "-" {
		f, err := os.Open(*file)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	var fields records.Fields
	if err := json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(&fields); err != nil {
		return fmt.Errorf("读取记录内容失败（应为 JSON 对象）: %w", err)
	}
	return withAgent(ctx, *data, agent.Config{}, e.Logger, func(a *agent.Agent) error {
		rid, err := a.Store.Save(ctx, records.Kind(*kind), *id, fields, *by)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(e.Stdout, rid)
		return err
	})
}
