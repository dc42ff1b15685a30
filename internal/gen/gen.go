package gen

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
	"unicode/utf8"
)

// Generator makes records from a seeded pseudo-random sequence. It is not
// safe for concurrent use: give each goroutine its own Generator (with its
// own seed) so that the output stays reproducible.
type Generator struct {
	r *rand.Rand
}

// pcgStream is the second PCG word; fixing it means only the seed chooses
// the sequence.
const pcgStream = 0x5354_4154_494f_4e53 // "STATIONS" in ASCII

// New returns a Generator whose output is fully determined by seed.
func New(seed int64) *Generator {
	return &Generator{r: rand.New(rand.NewPCG(uint64(seed), pcgStream))}
}

// Name returns a realistic Chinese full name of either sex and of a working
// adult's generation, as for a cadre, reviewer or relative.
func (g *Generator) Name() string {
	return g.name(g.coin(), eraMid)
}

// Date returns midnight UTC of a calendar day chosen uniformly between the
// calendar days of from and to, both included. Whole days are what every
// date field of the records holds, and UTC midnight formats back to the same
// day whatever the zone of the inputs. The order of from and to does not
// matter.
func (g *Generator) Date(from, to time.Time) time.Time {
	a, b := day(from), day(to)
	if b.Before(a) {
		a, b = b, a
	}
	days := int(b.Sub(a) / (24 * time.Hour))
	return a.AddDate(0, 0, g.r.IntN(days+1))
}

// day drops the time of day, keeping the calendar date t shows in its own
// location.
func day(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// villagesPerTownship is a typical number of administrative villages in an
// Anhui township, so that generated counties look like real ones in
// township-level views.
const villagesPerTownship = 12

// Villages returns n distinct 12-digit village codes under the 6-digit
// county code: townships are numbered 101, 102, … and villages within each
// township 201, 202, …, twelve villages to a township (more when n needs
// them), the way statistical division codes number rural places. The
// result depends only on its arguments. It panics if county is not 6 digits
// or n does not fit in one county.
func Villages(county string, n int) []string {
	if len(county) != 6 || !allDigits(county) {
		panic(fmt.Sprintf("gen.Villages: county must be 6 digits, got %q", county))
	}
	const townships, villages = 999 - 101 + 1, 999 - 201 + 1
	if n > townships*villages {
		panic(fmt.Sprintf("gen.Villages: %d villages do not fit in one county", n))
	}
	if n <= 0 {
		return []string{}
	}
	per := max(villagesPerTownship, (n+townships-1)/townships)
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%03d%03d", county, 101+i/per, 201+i%per)
	}
	return out
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Small helpers over the random source. Every draw goes through g.r, in a
// fixed order, which is what keeps the output reproducible.

func (g *Generator) coin() bool { return g.r.IntN(2) == 0 }

// chance reports true with probability percent/100.
func (g *Generator) chance(percent int) bool { return g.r.IntN(100) < percent }

// between returns an int in [lo, hi].
func (g *Generator) between(lo, hi int) int { return lo + g.r.IntN(hi-lo+1) }

func (g *Generator) pick(list []string) string { return list[g.r.IntN(len(list))] }

// weighted returns an index into weights, chosen with probability
// proportional to its weight.
func (g *Generator) weighted(weights ...int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	n := g.r.IntN(total)
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	return len(weights) - 1
}

// pickN returns k distinct elements of list in list order.
func (g *Generator) pickN(list []string, k int) []string {
	idx := g.r.Perm(len(list))[:k]
	keep := make([]bool, len(list))
	for _, i := range idx {
		keep[i] = true
	}
	out := make([]string, 0, k)
	for i, s := range list {
		if keep[i] {
			out = append(out, s)
		}
	}
	return out
}

// digits returns n random decimal digits.
func (g *Generator) digits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + g.r.IntN(10))
	}
	return string(b)
}

// mobilePrefixes are real mainland mobile prefixes of the three carriers
// and China Broadnet, all starting 13/15/18/19 as the brief asks.
var mobilePrefixes = []string{
	"130", "131", "132", "133", "134", "135", "136", "137", "138", "139",
	"150", "151", "152", "153", "155", "156", "157", "158", "159",
	"180", "181", "182", "183", "184", "185", "186", "187", "188", "189",
	"191", "193", "195", "198", "199",
}

// phone returns an 11-digit mobile number.
func (g *Generator) phone() string {
	return g.pick(mobilePrefixes) + g.digits(8)
}

// runes counts characters the way the field limits of the records do.
func runes(s string) int { return utf8.RuneCountInString(s) }

// yuan formats an amount in fen as yuan with two decimals, as ledgers print
// it.
func yuan(fen int64) string {
	return fmt.Sprintf("%d.%02d", fen/100, fen%100)
}

// cnDate formats a date the way notices write it: 2026年3月5日.
func cnDate(t time.Time) string {
	return fmt.Sprintf("%d年%d月%d日", t.Year(), int(t.Month()), t.Day())
}

// compose joins one sentence from each pool, in order, skipping empty pools.
func (g *Generator) compose(pools ...[]string) string {
	var b strings.Builder
	for _, p := range pools {
		if len(p) > 0 {
			b.WriteString(g.pick(p))
		}
	}
	return b.String()
}
