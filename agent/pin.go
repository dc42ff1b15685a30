package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"

	"stationsync/syncproto"
)

// The county's certificate pin (syncproto/tls.go). An enrollment code may
// carry the fingerprint of the county's own CA; the station then trusts
// that CA only, from the enrollment request on, and keeps the full
// fingerprint for every later connection. It pins the CA, not the server's
// certificate, so the county renews its certificate without the station
// noticing.

// ErrPinMismatch is the Chinese form of syncproto.ErrPinMismatch.
var ErrPinMismatch = errors.New("连接到的服务器证书与注册码中的指纹不一致：请核对县级服务器地址，或向县里重新索取注册码（可能连到了冒充的服务器）")

// pin returns the fingerprint to pin: the one being enrolled with, or the
// one kept at enrollment.
func (a *Agent) pin() string {
	if a.enrollPin != "" {
		return a.enrollPin
	}
	return a.Store.text(context.Background(), metaTLSPin)
}

func (a *Agent) learnPin(fp string) {
	a.pinMu.Lock()
	a.learnedPin = fp
	a.pinMu.Unlock()
}

func (a *Agent) learned() string {
	a.pinMu.Lock()
	defer a.pinMu.Unlock()
	return a.learnedPin
}

// checkPinnedURL refuses a pinned enrollment over plain HTTP off loopback:
// the pin would protect nothing.
func checkPinnedURL(serverURL, pin string) error {
	if pin == "" {
		return nil
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		return fmt.Errorf("县级服务器地址不正确：%w", err)
	}
	if u.Scheme == "https" {
		return nil
	}
	if ip := net.ParseIP(u.Hostname()); (ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost" {
		return nil
	}
	return errors.New("注册码包含县级服务器的证书指纹，服务器地址应以 https:// 开头")
}

func pinError(err error) error {
	if errors.Is(err, syncproto.ErrPinMismatch) {
		return fmt.Errorf("%w (%v)", ErrPinMismatch, err)
	}
	return err
}
