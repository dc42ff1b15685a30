package records

import "testing"

func TestYuan(t *testing.T) {
	for fen, want := range map[int64]string{0: "0 元", 120000: "1200 元", 123450: "1234.50 元", 5: "0.05 元", -305: "-3.05 元", -100: "-1 元"} {
		if got := Yuan(fen); got != want {
			t.Errorf("Yuan(%d) = %q, want %q", fen, got, want)
		}
	}
}
