package agent

import (
	"context"
	"testing"
	"time"

	"stationsync/internal/zone"
)

// The station's config names the zone its pages use; a reload applies it
// and an empty one goes back to China time.
func TestApplyConfigSetsTheZone(t *testing.T) {
	t.Cleanup(func() { zone.Set("") })
	ctx := context.Background()
	a, err := Open(ctx, Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	c := DefaultConfig()
	c.Timezone = "Asia/Urumqi"
	if err := a.ApplyConfig(ctx, c); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 15, 20, 0, 0, 0, time.UTC)
	if zone.Name() != "Asia/Urumqi" || Today(at) != "2026-03-16" {
		t.Fatalf("zone %s, today %s", zone.Name(), Today(at))
	}
	c.Timezone = ""
	if err := a.ApplyConfig(ctx, c); err != nil {
		t.Fatal(err)
	}
	if zone.Name() != zone.Default {
		t.Fatalf("zone %s after an empty setting", zone.Name())
	}
}
