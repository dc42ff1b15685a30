package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"stationsync/server"
)

// countyWithStation opens a county data folder in a temporary directory,
// as `--data dir` finds it, with one station enrolled for village.
func countyWithStation(t *testing.T, village string) (st *server.CountyStore, stn *server.Station, dir string) {
	t.Helper()
	ctx := context.Background()
	dir = t.TempDir()
	st, err := server.OpenSQLite(ctx, filepath.Join(dir, "county.db"), "340123")
	if err != nil {
		t.Fatal(err)
	}
	code, err := st.CreateCode(ctx, village, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	if stn, err = st.Enroll(ctx, code, pub, "pc-1", "test"); err != nil {
		t.Fatal(err)
	}
	return st, stn, dir
}

// fieldsOf gives a change's fields from plain values.
func fieldsOf(m map[string]any) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for k, v := range m {
		out[k], _ = json.Marshal(v)
	}
	return out
}
