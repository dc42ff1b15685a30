package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"stationsync/agent"
	"stationsync/internal/cli"
	"stationsync/internal/gen"
	"stationsync/internal/records"
)

// runDemo is `station-agent demo`: generated persons, each with two visits,
// every other one with an application, and a notice.
func (e *env) runDemo(ctx context.Context, args []string) error {
	fs, data := e.flags("demo")
	persons := fs.Int("persons", 5, "persons to add, each with two visits")
	seed := fs.Int64("seed", 1, "generator seed")
	by := fs.String("by", "村干部", "who records them")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	return withAgent(ctx, *data, agent.Config{}, e.Logger, func(a *agent.Agent) error {
		n, err := addDemo(ctx, a, *seed, *persons, *by)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "已添加演示记录 %d 条\n", n)
		return nil
	})
}

func addDemo(ctx context.Context, a *agent.Agent, seed int64, n int, by string) (int, error) {
	g := gen.New(seed)
	village := a.Store.Meta(ctx, "village")
	if village == "" {
		village = "340123101201"
	}
	added := 0
	for i := 0; i < n; i++ {
		p := g.Person(village)
		pid, err := a.Store.Save(ctx, records.Person, "", toFields(p), by)
		if err != nil {
			return added, err
		}
		added++
		for j := 0; j < 2; j++ {
			v := g.Visit(pid, time.Now().AddDate(0, 0, -30*j))
			if _, err := a.Store.Save(ctx, records.Visit, "", toFields(v), by); err != nil {
				return added, err
			}
			added++
		}
		if i%2 == 0 {
			if _, err := a.Store.Save(ctx, records.Application, "", toFields(g.Application(pid, p)), by); err != nil {
				return added, err
			}
			added++
		}
	}
	if _, err := a.Store.Save(ctx, records.Disclosure, "", toFields(g.Disclosure("")), by); err != nil {
		return added, err
	}
	return added + 1, nil
}

func toFields(m map[string]any) records.Fields {
	out := records.Fields{}
	for k, v := range m {
		b, _ := json.Marshal(v)
		out[k] = b
	}
	return out
}
