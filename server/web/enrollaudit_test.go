package web_test

import (
	"net/http"
	"strings"
	"testing"
)

// A refused enrolment shows on the county's audit log page, with the
// claimed host name and the address, and the action can be filtered on.
func TestRefusedEnrollmentOnAuditPage(t *testing.T) {
	f := newFixture(t)
	resp, err := http.Post(f.http.URL+"/v1/enroll", "application/json",
		strings.NewReader(`{"v":1,"code":"ZZZZZ-ZZZZZ","public_key":"iINX8UuVWVPfqT7N3LUj1/MZrq42aqfjfjgBzFeom94=","hostname":"odd-pc"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("wrong code: %d", resp.StatusCode)
	}
	a := f.login("admin")
	r := a.get("/audit?action=enrol_failed")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("audit page: %d", r.StatusCode)
	}
	for _, want := range []string{`value="enrol_failed" selected`, "站点注册失败", "站点?odd-pc", "注册码不正确", "127.0.0.1"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("audit page lacks %q", want)
		}
	}
}
