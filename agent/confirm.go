package agent

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"stationsync/internal/records"
)

// Confirming the county. A station may record for weeks before it enrolls;
// its register, ID numbers and all, then goes to whatever county the
// enrollment named. The county's name is known only once the county has
// answered, so enrollment is two steps: Enroll saves the identity and, if
// records are waiting, holds every sync round; a person reads the county's
// name, code and address on the station pages and confirms
// (ConfirmEnrollment), or says it is not theirs (CancelEnrollment).
//
// Every way of enrolling ends here, also the kept enrollment the service
// completes on its own when the link returns (enrollater.go): its code was
// typed by an installer, on the command line, without the county's name to
// look at, and the pin a code may carry proves only that the server is the
// one the code came from, not that the code is this village's. An enrollment
// with nothing waiting needs no confirmation: nothing made offline can go
// to the wrong place, and the pages showed the name as it enrolled.

const (
	// metaUnconfirmed is set while the enrollment waits for a person.
	metaUnconfirmed metaKey[string] = "enrol_unconfirmed"
	// metaHeldRecords is the number of records made before enrollment.
	metaHeldRecords metaKey[int64] = "enrol_held_records"
)

// ErrUnconfirmed says the station is enrolled but nothing is synced until
// a person confirms the county in the pages.
var ErrUnconfirmed = errors.New("注册待确认：请在站点页面「站点注册」核对县级服务器后确认，之前录入的记录确认后才会上传")

// holdForConfirmation holds the sync rounds inside Enroll's transaction
// if anything waits in the outbox; made is the records made before
// enrollment.
func holdForConfirmation(tx *sql.Tx, made int64) error {
	var queued int
	if err := tx.QueryRow(`SELECT count(*) FROM outbox`).Scan(&queued); err != nil {
		return fmt.Errorf("count outbox: %w", err)
	}
	if queued == 0 && made == 0 {
		return nil
	}
	if err := setMeta(tx, metaHeldRecords, made); err != nil {
		return err
	}
	return setMeta(tx, metaUnconfirmed, "1")
}

// Enrollment is what the person confirming sees.
type Enrollment struct {
	StationID    string
	Server       string
	County       string // 6-digit code
	CountyName   string // "" if the county named none
	Township     string
	TownshipName string
	Village      string
	VillageName  string
	Pinned       bool // the connection was checked against the code's certificate pin
	Records      int  // records made before enrollment
	Pending      int  // changes waiting to go up
	Unconfirmed  bool
}

// Enrollment describes the station's enrollment; nil if not enrolled.
func (a *Agent) Enrollment(ctx context.Context) *Enrollment {
	if !a.Enrolled(ctx) {
		return nil
	}
	m := a.Store.text
	e := &Enrollment{
		StationID: m(ctx, metaStationID), Server: m(ctx, metaServerURL), County: m(ctx, metaCounty), CountyName: m(ctx, metaCountyName),
		TownshipName: m(ctx, metaTownshipName), Village: m(ctx, metaVillage), VillageName: m(ctx, metaVillageName),
		Pinned: m(ctx, metaTLSPin) != "", Unconfirmed: m(ctx, metaUnconfirmed) != "",
	}
	if len(e.Village) >= 9 {
		e.Township = e.Village[:9]
	}
	// What a person reads before confirming: a count it cannot read
	// shows as 0, and the pages still show the county to check.
	if n, err := getMeta(ctx, a.Store.db.R, metaHeldRecords); err == nil {
		e.Records = int(n)
	}
	e.Pending, _ = a.Store.Pending(ctx)
	return e
}

// ErrNothingToConfirm says there is no enrollment waiting for confirmation.
var ErrNothingToConfirm = errors.New("没有等待确认的注册")

// ConfirmEnrollment lets the records made before enrollment go up, once a
// person has checked the county.
func (a *Agent) ConfirmEnrollment(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.Enrolled(ctx) || a.Store.text(ctx, metaUnconfirmed) == "" {
		return ErrNothingToConfirm
	}
	if err := a.Store.SetMeta(ctx, putMeta(putMeta(putMeta(metaValues{}, metaUnconfirmed, ""), metaHeldRecords, 0), metaLastError, "")); err != nil {
		return fmt.Errorf("save confirmation: %w", err)
	}
	a.logger.Info("enrolment confirmed; records made before it go up", "station", a.Store.text(ctx, metaStationID), "county", a.Store.text(ctx, metaCounty))
	a.Nudge()
	return nil
}

// CancelEnrollment undoes an enrollment not confirmed yet (the county shown
// was not theirs): the station is unenrolled, as before, with every
// record kept and queued, and may enroll again with the right code. The key
// stays: the wrong county holds only its public half.
func (a *Agent) CancelEnrollment(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.Enrolled(ctx) || a.Store.text(ctx, metaUnconfirmed) == "" {
		return ErrNothingToConfirm
	}
	village, station := a.Store.text(ctx, metaVillage), a.Store.text(ctx, metaStationID)
	err := a.Store.db.Tx(ctx, func(tx *sql.Tx) error {
		// Nothing was pulled while unconfirmed, so every record of that
		// village was made here: before enrollment, or since.
		for _, k := range records.Kinds {
			if _, err := tx.Exec(`UPDATE `+records.SchemaOf(k).Table+` SET village = '' WHERE village = ?`, village); err != nil {
				return err
			}
		}
		for _, k := range []string{string(metaStationID), string(metaVillage), string(metaCounty), string(metaCountyName), string(metaTownshipName),
			string(metaVillageName), string(metaServerURL), string(metaTLSPin), string(metaUnconfirmed), string(metaHeldRecords), string(metaLastError)} {
			if _, err := tx.Exec(`DELETE FROM meta WHERE key = ?`, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cancel enrolment: %w", err)
	}
	a.client = nil
	a.logger.Warn("enrolment cancelled by a person: not their county", "station", station, "village", village)
	return nil
}
