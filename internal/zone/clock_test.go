package zone

import (
	"testing"
	"time"
)

func TestClockText(t *testing.T) {
	for _, tc := range []struct {
		who   string
		ahead time.Duration
		want  string
	}{
		{"本机", 0, "时钟准确"},
		{"本机", -300 * time.Millisecond, "时钟准确"},
		{"本机", 59 * time.Second, "时钟准确"},
		{"本机", -59 * time.Second, "时钟准确"},
		{"本机", -time.Minute, "本机时钟慢 1 分钟"},
		{"本机", 3*time.Minute + 20*time.Second, "本机时钟快 3 分钟"},
		{"本机", -(3*time.Minute + 40*time.Second), "本机时钟慢 4 分钟"},
		{"", -90 * time.Minute, "时钟慢 1 小时 30 分钟"},
		{"站点", 8 * time.Hour, "站点时钟快 8 小时"},
		{"本机", -3 * 24 * time.Hour, "本机时钟慢 3 天"},
		{"本机", -time.Duration(17*365+4) * 24 * time.Hour, "本机时钟慢 约 17 年"},
	} {
		if got := ClockText(tc.who, tc.ahead); got != tc.want {
			t.Errorf("ClockText(%q, %v) = %q, want %q", tc.who, tc.ahead, got, tc.want)
		}
	}
}
