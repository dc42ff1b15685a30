package zone

import (
	"fmt"
	"time"
)

// ClockTolerance is how far a station's clock may be from the county's and
// still be called right. The offset is measured from a request's stamp,
// which includes the request's travel time (seconds on a 2G link), and the
// county starts clamping a station's stamps at 2 minutes; under a minute
// nothing a cadre does is affected, so nothing is said.
const ClockTolerance = time.Minute

// ClockText says in words how a clock stands against the county's: ahead
// is how far it runs ahead (negative: behind). Within ClockTolerance it is
// "时钟准确"; otherwise "<who>时钟慢 3 分钟" or "<who>时钟快 2 小时 5 分钟",
// rounded to what a person would set on the clock ("慢 0s" told a clerk
// nothing). who names the clock ("本机", "站点"), or is empty under a
// heading that already does.
func ClockText(who string, ahead time.Duration) string {
	d := ahead
	if d < 0 {
		d = -d
	}
	if d < ClockTolerance {
		return "时钟准确"
	}
	way := "快"
	if ahead < 0 {
		way = "慢"
	}
	return who + "时钟" + way + " " + durationText(d)
}

// durationText is d in the largest unit that reads naturally: minutes,
// hours and minutes, days, or years for a PC that reset itself to 2009.
func durationText(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%d 分钟", max(1, int(d.Round(time.Minute)/time.Minute)))
	case d < 2*day:
		d = d.Round(time.Minute)
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%d 小时", h)
		}
		return fmt.Sprintf("%d 小时 %d 分钟", h, m)
	case d < 365*day:
		return fmt.Sprintf("%d 天", int(d.Round(day)/day))
	}
	return fmt.Sprintf("约 %d 年", int((d+182*day)/(365*day)))
}
