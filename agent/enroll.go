package agent

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"os"

	"stationsync/internal/records"
	"stationsync/syncproto"
)

// Enroll exchanges a one-time code for a station identity. The key pair is
// made here; the private key is written, readable by the service account
// only, before the county ever sees the public one.
//
// If records were made before enrollment, they stay in the outbox, and
// nothing is synced, until a person has seen the county's name and
// confirmed it (ConfirmEnrollment, confirm.go): a wrong address or code must
// not send a village's register, ID numbers and all, to a county that is
// not theirs.
func (a *Agent) Enroll(ctx context.Context, serverURL, code string) (*syncproto.EnrollResponse, error) {
	if a.Enrolled(ctx) {
		return nil, errors.New("这台电脑已经注册为站点 " + a.Store.text(ctx, metaStationID) + "，无需再次注册")
	}
	// One enrollment at a time: the pages and the service's kept enrollment
	// must not make two keys, one of them never enrolled.
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.Enrolled(ctx) {
		return nil, errors.New("这台电脑已经注册为站点 " + a.Store.text(ctx, metaStationID) + "，无需再次注册")
	}
	if err := a.ensureKey(); err != nil {
		return nil, err
	}
	priv := a.key
	pub := priv.Public().(ed25519.PublicKey)
	// The code may carry the county CA's fingerprint (pin.go).
	code, pin := syncproto.SplitEnrollCode(code)
	if err := checkPinnedURL(serverURL, pin); err != nil {
		return nil, err
	}
	a.enrollPin = pin
	defer func() { a.enrollPin = "" }()
	c := a.newClient(serverURL, "", nil)
	host, _ := os.Hostname()
	resp, err := c.Enroll(ctx, syncproto.EnrollRequest{Code: code, PublicKey: pub, Hostname: host, AgentVersion: Version})
	if err != nil {
		return nil, pinError(err)
	}
	err = a.Store.db.Tx(ctx, func(tx *sql.Tx) error {
		for k, v := range map[string]string{"station_id": resp.StationID, "village": resp.Village, "county": resp.County, "server_url": serverURL,
			"county_name": resp.CountyName, "township_name": resp.TownshipName, "village_name": resp.VillageName,
			string(metaBundleKey): bundleKeyText(resp.BundleKey)} {
			if err := setMetaTx(tx, k, v); err != nil {
				return err
			}
		}
		if fp := a.learned(); pin != "" && fp != "" {
			if err := setMetaTx(tx, "tls_pin", fp); err != nil {
				return err
			}
		}
		// Records entered before enrollment take the village now; their
		// changes are still queued and carry no village of their own.
		var made int64
		for _, k := range records.Kinds {
			r, err := tx.Exec(`UPDATE `+records.SchemaOf(k).Table+` SET village = ? WHERE village = ''`, resp.Village)
			if err != nil {
				return err
			}
			n, _ := r.RowsAffected()
			made += n
		}
		return holdForConfirmation(tx, made) // confirm.go
	})
	if err != nil {
		return nil, fmt.Errorf("save enrolment: %w", err)
	}
	a.setKey(priv)
	a.client = nil
	a.logger.Info("station enrolled", "station", resp.StationID, "village", resp.Village)
	return resp, nil
}
