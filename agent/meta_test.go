package agent

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stationsync/internal/records"
	"stationsync/server"
)

// A corrupt value of the sync state in the station's SQLite file stops the
// sync and every save with a message naming it, instead of reading as
// zero: nothing goes up or comes down, no seq is given out, and once the
// value is repaired the round goes on with the ids it had. (Before, a
// corrupt next_seq let the round push and left the county's high-water
// mark unchecked, a corrupt cursor pulled the whole feed again, and a
// corrupt hlc let saves stamp changes from the PC's clock.)
func TestCorruptSyncStateStopsSync(t *testing.T) {
	ctx := context.Background()
	cs, err := server.OpenSQLite(ctx, filepath.Join(t.TempDir(), "county.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	hs := httptest.NewServer(server.New(cs, slog.New(slog.DiscardHandler)).NewHandler())
	defer hs.Close()
	countyChanges := func() int {
		var n int
		if err := cs.DB().R.QueryRow(`SELECT count(*) FROM change_ids`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	for _, key := range []string{"next_seq", "hlc", "cursor"} {
		t.Run(key, func(t *testing.T) {
			dir := t.TempDir()
			a := openTestAgent(t, dir)
			code, err := cs.CreateCode(ctx, "340123101201", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Enroll(ctx, hs.URL, code); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if _, err := a.Store.Save(ctx, records.Person, "", person(), "李明"); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := a.SyncOnce(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Store.Save(ctx, records.Person, "", person(), "李明"); err != nil {
				t.Fatal(err)
			}
			before := countyChanges()
			good := a.Store.Meta(ctx, key)
			a.Close()

			setRaw(t, filepath.Join(dir, "station.db"), key, "7x")
			a = openTestAgent(t, dir)
			defer a.Close()
			var ce *CorruptStateError
			_, err = a.SyncOnce(ctx)
			if !errors.As(err, &ce) || ce.Key != key || !strings.Contains(err.Error(), "同步状态已损坏") {
				t.Fatalf("sync with %s corrupt: %v", key, err)
			}
			if n := countyChanges(); n != before {
				t.Fatalf("the county got %d changes from a station whose %s is corrupt", n-before, key)
			}
			if st, _ := a.Status(ctx); !strings.Contains(st.LastError, key) {
				t.Fatalf("status does not name %s: %q", key, st.LastError)
			}
			queued, _ := a.Store.Pending(ctx)
			if key != "cursor" {
				// A save needs next_seq and hlc; the cursor is the pull's.
				if _, err := a.Store.Save(ctx, records.Person, "", person(), "李明"); !errors.As(err, &ce) {
					t.Fatalf("save with %s corrupt: %v", key, err)
				}
				if n, _ := a.Store.Pending(ctx); n != queued {
					t.Fatalf("queued %d → %d with %s corrupt", queued, n, key)
				}
			}
			if raw := a.Store.Meta(ctx, key); raw != "7x" {
				t.Fatalf("%s rewritten to %q", key, raw)
			}

			// Repaired by hand, the round goes on where it was.
			a.Close()
			setRaw(t, filepath.Join(dir, "station.db"), key, good)
			a = openTestAgent(t, dir)
			defer a.Close()
			if _, err := a.SyncOnce(ctx); err != nil {
				t.Fatal(err)
			}
			if n := countyChanges(); n != before+1 {
				t.Fatalf("after the repair the county holds %d new changes, want 1", n-before)
			}
		})
	}
}

// setRaw writes a meta value straight into the file, as a disk error or a
// hand edit would.
func setRaw(t *testing.T, path, key, value string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE meta SET value = ? WHERE key = ?`, value, key); err != nil {
		t.Fatal(err)
	}
}

// Each typed key reads its text as its type; an empty or missing value is
// zero, text that is not one is a CorruptStateError, never zero.
func TestParseMeta(t *testing.T) {
	if v, err := parseMeta(metaNextSeq, "18446744073709551615"); err != nil || v != 1<<64-1 {
		t.Errorf("next_seq: %d, %v", v, err)
	}
	if v, err := parseMeta(metaCursor, ""); err != nil || v != 0 {
		t.Errorf("empty cursor: %d, %v", v, err)
	}
	if v, err := parseMeta(metaClockOffset, "-1500"); err != nil || v != -1500 {
		t.Errorf("offset: %d, %v", v, err)
	}
	for _, bad := range []string{"-1", "1e3", " 5", "五"} {
		var ce *CorruptStateError
		if v, err := parseMeta(metaNextSeq, bad); !errors.As(err, &ce) || ce.Key != "next_seq" || v != 0 {
			t.Errorf("next_seq %q: %d, %v", bad, v, err)
		}
	}
	if v, err := parseMeta(metaVillage, "340123101201"); err != nil || v != "340123101201" {
		t.Errorf("village: %q, %v", v, err)
	}
}
