package web

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// The picture is drawn in a box 600 units wide that scales to its place
// (width 100%, the height following the viewBox), so on a phone it
// shrinks into the page instead of pushing it sideways; the table under
// it stays readable at any width.
const (
	svgW     = 600.0
	fontPx   = 14.0
	plotTop  = 34.0 // room for the unit and the values above the bars
	plotH    = 240.0
	padRight = 12.0
	titleH   = 30.0 // the title, only in a picture shown alone
)

func esc(s string) string { return html.EscapeString(s) }

// axis is a value axis from 0 to top in steps of step.
type axis struct{ top, step float64 }

// countAxis is the axis of counts reaching at least max: top and step
// are whole numbers (nobody is half visited), the step 1, 2 or 5 × 10ⁿ,
// at most five steps.
func countAxis(max float64) axis {
	m := math.Ceil(max - 1e-9)
	if m < 1 {
		m = 1
	}
	for p := 1.0; ; p *= 10 {
		for _, f := range []float64{1, 2, 5} {
			if step := f * p; step*5 >= m {
				return axis{top: step * math.Ceil(m/step), step: step}
			}
		}
	}
}

// pctAxis is the axis of shares: 0 to 100 %, whatever the largest.
var pctAxis = axis{top: 100, step: 20}

func (a axis) ticks() []float64 {
	var out []float64
	for i := 0; i <= int(math.Round(a.top/a.step)); i++ {
		out = append(out, a.step*float64(i))
	}
	return out
}

func (c *chart) axis() axis {
	if c.Pct {
		return pctAxis
	}
	m := 0.0
	for i := range c.Labels {
		if c.Bars {
			m = math.Max(m, c.stack(i))
		} else {
			for _, s := range c.Series {
				m = math.Max(m, s.Values[i])
			}
		}
	}
	return countAxis(m)
}

// stack is the height of the bar at i: its series added up.
func (c *chart) stack(i int) float64 {
	t := 0.0
	for _, s := range c.Series {
		t += s.Values[i]
	}
	return t
}

// num is a value as the table, the CSV and the picture write it: counts
// whole, shares with one decimal.
func (c *chart) num(v float64) string {
	if c.Pct {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return count(v)
}

func count(v float64) string { return strconv.FormatInt(int64(math.Round(v)), 10) }

// say is a value with its unit, for tooltips: "12 次", "70.0%".
func (c *chart) say(v float64) string {
	if c.Pct {
		return c.num(v) + "%"
	}
	return c.num(v) + " " + c.Word
}

// textW is the width of s at size px: CJK characters are square, the
// rest about 0.6 em.
func textW(s string, size float64) float64 {
	w := 0.0
	for _, r := range s {
		if r >= 0x2E80 {
			w += 1
		} else {
			w += 0.6
		}
	}
	return w * size
}

// summary says everything about the bar or day at i in one line: the
// column's tooltip and, for screen readers, its name.
func (c *chart) summary(i int, label string) string {
	var parts []string
	for _, s := range c.Extra {
		parts = append(parts, s.Name+" "+count(s.Values[i]))
	}
	for _, s := range c.Series {
		parts = append(parts, s.Name+" "+c.say(s.Values[i]))
	}
	if c.Total {
		parts = append(parts, "合计 "+c.say(c.stack(i)))
	}
	return label + "：" + strings.Join(parts, "，")
}

// drawSVG draws c. In the page (alone false) the title, the legend and
// the numbers are HTML around it; a picture shown alone carries its title
// and legend inside.
func drawSVG(c *chart, alone bool) []byte {
	ticks := c.Ticks
	if ticks == nil {
		ticks = c.Labels
	}
	ax := c.axis()
	n := max(1, len(c.Labels))

	left := 0.0
	for _, t := range ax.ticks() {
		left = math.Max(left, textW(count(t), fontPx)+14)
	}
	left = math.Max(left, 30)
	band := (svgW - left - padRight) / float64(n)
	// Every label when they fit side by side, else every k-th (the daily
	// line's 90 days); turned 40° when even those do not fit.
	every := 1
	lw := 0.0
	for _, t := range ticks {
		lw = math.Max(lw, textW(t, fontPx))
	}
	if !c.Bars {
		every = max(1, int(math.Ceil((lw+10)/band)))
	}
	turned := lw+6 > band*float64(every)
	sin, cos := math.Sin(40*math.Pi/180), math.Cos(40*math.Pi/180)
	if turned {
		// The first label runs down-left from its bar: room for it.
		left = math.Max(left, lw*cos-band/2+6)
		band = (svgW - left - padRight) / float64(n)
	}
	bottom := fontPx + 12
	if turned {
		bottom = lw*sin + fontPx*cos + 12
	}
	top := 0.0
	if alone {
		top = titleH
	}
	base := top + plotTop + plotH // the zero line
	legendH := 0.0
	var legendRows [][]int
	if alone && len(c.Series) > 1 {
		x := 0.0
		row := []int{}
		for j, s := range c.Series {
			w := 18 + textW(s.Name, fontPx) + 16
			if x+w > svgW-padRight-8 && len(row) > 0 {
				legendRows = append(legendRows, row)
				row, x = []int{}, 0
			}
			row = append(row, j)
			x += w
		}
		legendRows = append(legendRows, row)
		legendH = 20*float64(len(legendRows)) + 6
	}
	height := math.Ceil(base + bottom + legendH + 4)

	var b bytes.Buffer
	size := `width="100%"`
	if alone {
		size = fmt.Sprintf(`width="%.0f" height="%.0f"`, svgW, height)
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart-pic" viewBox="0 0 %.0f %.0f" %s font-family="Noto Sans CJK SC, Microsoft YaHei, sans-serif" font-size="%.0f" role="group" aria-label="%s">`,
		svgW, height, size, fontPx, esc(c.Title+"（数字见图下的表格）"))
	if alone {
		fmt.Fprintf(&b, `<title>%s</title><rect width="100%%" height="100%%" fill="#fff"/><text x="8" y="20" font-size="16" font-weight="bold">%s</text>`, esc(c.Title), esc(c.Title))
	}
	unit := "单位：" + c.Word
	if c.Pct {
		unit = "单位：%"
	}
	fmt.Fprintf(&b, `<text x="4" y="%.1f" fill="#4a5568">%s</text>`, top+14, esc(unit))
	for _, t := range ax.ticks() {
		y := base - plotH*t/ax.top
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#e2e8f0"/><text class="tick" x="%.1f" y="%.1f" text-anchor="end" fill="#4a5568">%s</text>`,
			left, svgW-padRight, y, y, left-6, y+4, esc(count(t)))
	}
	fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#a0aec0"/>`, left, svgW-padRight, base, base)

	empty := true
	for i := range c.Labels {
		for _, s := range c.Series {
			if s.Values[i] != 0 {
				empty = false
			}
		}
	}
	if empty {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#718096" font-size="16">暂无数据</text>`, left+(svgW-padRight-left)/2, base-plotH/2)
	}

	for i, l := range c.Labels {
		x0 := left + band*float64(i)
		cx := x0 + band/2
		// The column: its summary is the tooltip anywhere over it. Bars
		// take keyboard focus, one stop per bar; the 90 days of the line
		// would be 90 stops, and the table has the same numbers.
		focus := ""
		if c.Bars {
			focus = ` tabindex="0"`
		}
		sum := c.summary(i, l)
		fmt.Fprintf(&b, `<g class="col"%s aria-label="%s"><title>%s</title><rect class="hit" x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="transparent"/>`,
			focus, esc(sum), esc(sum), x0, base-plotH, band, plotH)
		if c.Bars {
			bw := math.Min(band*0.7, 64) // two townships are not two slabs
			y := base
			for j, s := range c.Series {
				v := s.Values[i]
				if v <= 0 {
					continue
				}
				hh := plotH * v / ax.top
				y -= hh
				fmt.Fprintf(&b, `<rect class="bar" x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s" data-l="%s" data-s="%s" data-v="%s"><title>%s %s：%s</title></rect>`,
					cx-bw/2, y, bw, hh, palette[j%len(palette)], esc(l), esc(s.Name), esc(c.num(v)), esc(l), esc(s.Name), esc(c.say(v)))
			}
			if st := c.stack(i); st > 0 {
				if v := c.num(st); textW(v, 11) <= band {
					fmt.Fprintf(&b, `<text class="val" x="%.2f" y="%.2f" text-anchor="middle" font-size="11" fill="#2d3748">%s</text>`, cx, y-4, esc(v))
				}
			}
		}
		b.WriteString(`</g>`)
		if i%every == 0 {
			ly := base + fontPx + 4
			if turned {
				fmt.Fprintf(&b, `<text class="label" x="%.2f" y="%.2f" text-anchor="end" transform="rotate(-40 %.2f %.2f)" fill="#2d3748">%s</text>`, cx, ly, cx, ly, esc(ticks[i]))
			} else {
				fmt.Fprintf(&b, `<text class="label" x="%.2f" y="%.2f" text-anchor="middle" fill="#2d3748">%s</text>`, cx, ly, esc(ticks[i]))
			}
		}
	}
	if !c.Bars {
		for j, s := range c.Series {
			var pts strings.Builder
			for i, v := range s.Values {
				fmt.Fprintf(&pts, "%.2f,%.2f ", left+band*(float64(i)+0.5), base-plotH*v/ax.top)
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2.5" points="%s"><title>%s</title></polyline>`, palette[j%len(palette)], strings.TrimSpace(pts.String()), esc(s.Name))
			for i, v := range s.Values {
				fmt.Fprintf(&b, `<circle class="pt" cx="%.2f" cy="%.2f" r="3" fill="%s" data-l="%s" data-s="%s" data-v="%s"><title>%s %s：%s</title></circle>`,
					left+band*(float64(i)+0.5), base-plotH*v/ax.top, palette[j%len(palette)], esc(c.Labels[i]), esc(s.Name), esc(c.num(v)), esc(c.Labels[i]), esc(s.Name), esc(c.say(v)))
			}
		}
	}
	ly := base + bottom + 4
	for _, row := range legendRows {
		x := 8.0
		for _, j := range row {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="12" height="12" fill="%s"/><text x="%.1f" y="%.1f">%s</text>`, x, ly, palette[j%len(palette)], x+18, ly+11, esc(c.Series[j].Name))
			x += 18 + textW(c.Series[j].Name, fontPx) + 16
		}
		ly += 20
	}
	b.WriteString(`</svg>`)
	return b.Bytes()
}
