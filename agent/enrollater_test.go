package agent

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stationsync/internal/records"
	"stationsync/server"
)

func openTestAgent(t *testing.T, dir string) *Agent {
	t.Helper()
	a, err := Open(context.Background(), Config{DataDir: dir, Logger: slog.New(slog.DiscardHandler), SyncInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// spellings of a code as it may sit in a file.
func spellings(code string) []string {
	flat := strings.ReplaceAll(code, "-", "")
	return []string{code, flat, strings.ToLower(code), strings.ToLower(flat)}
}

// filesHold reports which file of dir holds any spelling of code.
func filesHold(t *testing.T, dir, code string) []string {
	t.Helper()
	var found []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		for _, s := range spellings(code) {
			if bytes.Contains(b, []byte(s)) {
				found = append(found, e.Name())
				break
			}
		}
	}
	return found
}

// A kept enrollment code is a one-time secret: not in station.db, its WAL
// or any other file in clear, and of no use in a copy of the database
// without the station's key, or with the server address changed.
func TestKeptCodeNotInClear(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := openTestAgent(t, dir)
	const code = "QRSTU-VWXYZ"
	if err := a.EnrollLater(ctx, "http://county.example:8870", code); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Store.Save(ctx, records.Person, "", person(), "李明"); err != nil {
		t.Fatal(err)
	}
	if got := filesHold(t, dir, code); len(got) > 0 {
		t.Fatalf("the code is in clear in %v", got)
	}
	if v := a.Store.text(ctx, metaKeptClear); v != "" {
		t.Fatalf("meta %s = %q", metaKeptClear, v)
	}
	if got, err := a.openCode("http://county.example:8870", a.Store.text(ctx, metaKeptSealed)); err != nil || got != code {
		t.Fatalf("unsealed %q, %v", got, err)
	}
	// The server address is bound to the sealed code.
	if _, err := a.openCode("http://evil.example:8870", a.Store.text(ctx, metaKeptSealed)); !errors.Is(err, errUnseal) {
		t.Fatalf("unsealed for another server: %v", err)
	}
	sealed := a.Store.text(ctx, metaKeptSealed)
	a.Close()
	// A copy of the database with another station's key reads nothing.
	other := openTestAgent(t, t.TempDir())
	defer other.Close()
	other.mu.Lock()
	other.ensureKey()
	other.mu.Unlock()
	if _, err := other.openCode("http://county.example:8870", sealed); !errors.Is(err, errUnseal) {
		t.Fatalf("unsealed with another key: %v", err)
	}
}

// A code an older release kept in clear is sealed when the service
// starts, and wiped from the database file and its WAL.
func TestClearCodeOfOlderReleaseSealed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := openTestAgent(t, dir)
	const code = "MNPQR-STUVW"
	const srv = "http://127.0.0.1:1" // nothing listens: the enrollment stays kept
	if err := a.Store.SetMeta(ctx, putMeta(putMeta(metaValues{}, metaKeptServer, srv), metaKeptClear, code)); err != nil {
		t.Fatal(err)
	}
	a.Store.DB().Checkpoint(ctx) // into the database file itself
	a.Close()
	if got := filesHold(t, dir, code); len(got) == 0 {
		t.Fatal("test setup: the clear code is not in the files")
	}

	a = openTestAgent(t, dir)
	defer a.Close()
	rctx, stop := context.WithTimeout(ctx, 300*time.Millisecond)
	a.Run(rctx)
	stop()
	if got := filesHold(t, dir, code); len(got) > 0 {
		t.Fatalf("the clear code is still in %v", got)
	}
	if got, err := a.openCode(srv, a.Store.text(ctx, metaKeptSealed)); err != nil || got != code {
		t.Fatalf("sealed code reads %q, %v", got, err)
	}
	if a.PendingEnrollment(ctx) != srv {
		t.Fatal("the kept enrolment was lost")
	}
}

// The service completes a kept enrollment once the county answers, but the
// records made before it wait for a person's confirmation: nobody saw the
// county's name when the code was typed on the command line.
func TestKeptEnrollmentWaitsForConfirmation(t *testing.T) {
	ctx := context.Background()
	cs, err := server.OpenSQLite(ctx, filepath.Join(t.TempDir(), "county.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	hs := httptest.NewServer(server.New(cs, slog.New(slog.DiscardHandler)).NewHandler())
	defer hs.Close()
	code, err := cs.CreateCode(ctx, "340123101201", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	a := openTestAgent(t, t.TempDir())
	defer a.Close()
	if err := a.EnrollLater(ctx, hs.URL, code); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Store.Save(ctx, records.Person, "", person(), "李明"); err != nil {
		t.Fatal(err)
	}
	changes := func() int {
		var n int
		cs.DB().R.QueryRow(`SELECT count(*) FROM change_ids`).Scan(&n)
		return n
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(rctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for !a.Enrolled(ctx) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for range 5 {
		a.Nudge()
		time.Sleep(40 * time.Millisecond)
	}
	if !a.Enrolled(ctx) || a.PendingEnrollment(ctx) != "" || a.Store.text(ctx, metaKeptSealed) != "" {
		t.Fatal("kept enrolment not completed and cleared")
	}
	if e := a.Enrollment(ctx); e == nil || !e.Unconfirmed || e.Records != 1 {
		t.Fatalf("enrolment %+v, want unconfirmed with 1 record", e)
	}
	if n := changes(); n != 0 {
		t.Fatalf("county holds %d changes before confirmation", n)
	}
	if err := a.ConfirmEnrollment(ctx); err != nil {
		t.Fatal(err)
	}
	for changes() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	<-done
	if n := changes(); n != 1 {
		t.Fatalf("county holds %d changes, want 1", n)
	}
}
