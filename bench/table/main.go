// Command table reads `go test -bench` output on stdin and prints the
// figures of the benchmarks in bench/ as a Markdown table, each beside its
// target, followed by the reference figures the targets were set against.
//
//	go test -run '^$' -bench . -benchtime 1x ./bench/ | go run ./bench/table
//
// A benchmark run several times (-count) shows the median of its runs. The
// exit status is 1 if the input holds no benchmark result or reports a
// failure, so that `make bench` fails with the tests.
package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

// figure describes how one reported unit of one benchmark is shown.
type figure struct {
	label  string
	digits int     // decimals shown
	target float64 // 0: none
	atMost bool    // the target is a maximum, not a minimum
	unit   string  // shown after the value
}

// figures lists, per benchmark, the units worth showing, in order. Units a
// benchmark reports that are not listed are shown after these, as they are.
var figures = map[string][]struct {
	unit string
	figure
}{
	"CatchUpLoopback": {
		{"records/s", figure{label: "records/s end to end (10,000 visits)", target: 25000}},
		{"s", figure{label: "wall time", digits: 3, unit: " s"}},
		{"cpu-s", figure{label: "CPU time, station and county together", digits: 3, unit: " s"}},
		{"wire-B/record", figure{label: "bytes on the wire per record (TCP payload both ways)", digits: 1, unit: " B"}},
		{"up-B/record", figure{label: "… of which station → county", digits: 1, unit: " B"}},
		{"down-B/record", figure{label: "… of which county → station", digits: 2, unit: " B"}},
		{"zstd19-B/record", figure{label: "`zstd -19` of the same visits as NDJSON, per record", digits: 1, unit: " B"}},
		{"wire/zstd19", figure{label: "wire bytes ÷ `zstd -19` bytes", digits: 3, target: 1.5, atMost: true, unit: "×"}},
		{"kpzstdBest-B/record", figure{label: "klauspost zstd best of the same NDJSON (no zstd CLI), per record", digits: 1, unit: " B"}},
		{"wire/kpzstdBest", figure{label: "wire bytes ÷ klauspost best bytes (no zstd CLI)", digits: 3, target: 1.5, atMost: true, unit: "×"}},
	},
	"2GPhoto": {
		{"camera-B", figure{label: "a camera photo as taken (12 MP JPEG)", unit: " B"}},
		{"kept-B", figure{label: "… as the station keeps and sends it (1,600 px, quality 80)", unit: " B"}},
		{"up-B", figure{label: "bytes station → county (visit, photo, calls)", unit: " B"}},
		{"down-B", figure{label: "bytes county → station", unit: " B"}},
		{"record-s", figure{label: "2G: round start until the visit is at the county", digits: 2, target: 5, atMost: true, unit: " s"}},
		{"photo-s", figure{label: "2G: round start until the photo is", digits: 1, unit: " s"}},
	},
	"Bundle1000Visits100Photos": {
		{"uplink-MiB", figure{label: "USB uplink of 1,000 visits (200 persons), 100 with a photo", digits: 1, unit: " MiB"}},
		{"photos-MiB", figure{label: "… of which the photos as kept", digits: 1, unit: " MiB"}},
		{"uplink-B/change-less-photos", figure{label: "… the rest, per change", digits: 1, unit: " B"}},
		{"export-ms", figure{label: "station-agent export", digits: 0, unit: " ms"}},
		{"county-import-ms", figure{label: "county import (merge, files, answer)", digits: 0, unit: " ms"}},
		{"station-import-ms", figure{label: "station import of the answer", digits: 0, unit: " ms"}},
		{"downlink-B", figure{label: "the county's answer", unit: " B"}},
	},
	"FileUploadLoopback": {
		{"MiB/s", figure{label: "8 MiB scan up in 64 KiB chunks, loopback", digits: 1, unit: " MiB/s"}},
	},
	"2GLink": {
		{"s", figure{label: "200 visits, first byte to last acknowledgement", digits: 2, target: 5, atMost: true, unit: " s"}},
		{"up-B", figure{label: "bytes station → county", unit: " B"}},
		{"down-B", figure{label: "bytes county → station", unit: " B"}},
		{"wire-B/record", figure{label: "bytes on the wire per record", digits: 1, unit: " B"}},
	},
	"ServerIngest": {
		{"records/s", figure{label: "records/s merged (20 sealed batches of 1,000 visits from one station, one after another)", target: 50000}},
		{"merge-records/s", figure{label: "… counting the merge (Push) alone", target: 0}},
		{"ceiling-records/s", figure{label: "the same visits inserted straight into SQLite (prepared, 1,000 a transaction, FULL sync)"}},
		{"merge/ceiling", figure{label: "the merge's share of that ceiling", digits: 2, target: 0.8}},
		{"s", figure{label: "wall time", digits: 3, unit: " s"}},
		{"cpu-s", figure{label: "CPU time", digits: 3, unit: " s"}},
	},
	"ServerIngestPostgres": {
		{"records/s", figure{label: "records/s merged into PostgreSQL (the same 20 batches of 1,000 visits from one station; server on this machine)", target: 50000}},
		{"merge-records/s", figure{label: "… counting the merge (Push) alone", target: 0}},
		{"ceiling-records/s", figure{label: "the same visits COPYed straight into PostgreSQL (pgx CopyFrom, 1,000 a transaction, writer lock)"}},
		{"merge/ceiling", figure{label: "the merge's share of that ceiling", digits: 2, target: 0.8}},
		{"row-insert-records/s", figure{label: "the same visits by one prepared INSERT a row (SQLite's ceiling's way: a round trip each), for comparison"}},
		{"s", figure{label: "wall time", digits: 3, unit: " s"}},
		{"cpu-s", figure{label: "CPU time of this process (PostgreSQL's own is not counted)", digits: 3, unit: " s"}},
	},
	"ServerIngestConcurrentPostgres": {
		{"records/s", figure{label: "records/s merged into PostgreSQL (ten stations at once, two batches each; group commit)", target: 50000}},
		{"s", figure{label: "wall time", digits: 3, unit: " s"}},
		{"cpu-s", figure{label: "CPU time of this process (PostgreSQL's own is not counted)", digits: 3, unit: " s"}},
	},
	"ServerIngestConcurrent": {
		{"records/s", figure{label: "records/s merged (the same 20,000 visits from ten stations at once, two batches each; group commit)", target: 50000}},
		{"s", figure{label: "wall time", digits: 3, unit: " s"}},
		{"cpu-s", figure{label: "CPU time", digits: 3, unit: " s"}},
	},
	"StationPages": {
		{"slowest-ms", figure{label: "slowest station page, server time (5,000 persons, 50,000 visits); each page below", digits: 2, target: 100, atMost: true, unit: " ms"}},
	},
	"CountyPages": {
		{"worst-ms", figure{label: "slowest county list page or report, server time (300 villages, 100,000 persons, 1,000,000 visits; cold where cached); each below", digits: 1, target: 300, atMost: true, unit: " ms"}},
		{"worst-cpu-ms", figure{label: "… its CPU time (the wall time above grows with the load of a shared machine)", digits: 1, target: 300, atMost: true, unit: " ms"}},
		{"setup-s", figure{label: "building that database with direct SQL inserts", digits: 1, unit: " s"}},
	},
	"CountyExport": {
		{"csv-s", figure{label: "export 100,000 persons as CSV", digits: 2, unit: " s"}},
		{"csv-peak-heap-MB", figure{label: "… peak Go heap above the start, while streaming", digits: 1, unit: " MB"}},
		{"xlsx-s", figure{label: "export 100,000 persons as Excel (excelize stream writer)", digits: 2, unit: " s"}},
		{"xlsx-peak-heap-MB", figure{label: "… peak Go heap (excelize keeps ≤ 16 MiB of sheet XML in memory, the rest in a temp file)", digits: 1, unit: " MB"}},
	},
	"LocalWrite": {
		{"p50-ms", figure{label: "save one visit (fsynced), median", digits: 2, unit: " ms"}},
		{"p99-ms", figure{label: "… 99th percentile", digits: 2, target: 20, atMost: true, unit: " ms"}},
		{"max-ms", figure{label: "… slowest", digits: 2, unit: " ms"}},
	},
}

// order is the order of the table's sections.
var order = []string{"CatchUpLoopback", "2GLink", "2GPhoto", "FileUploadLoopback", "Bundle1000Visits100Photos", "ServerIngest", "ServerIngestPostgres", "ServerIngestConcurrent", "ServerIngestConcurrentPostgres", "LocalWrite"}

// The CouchDB reference of the issue.
const (
	couchRecordsPerSec  = 2400
	couchBytesPerRecord = 840
)

// notes are the reference figures of the issue: context, not measured.
const notes = `Reference figures (from the issue; context, not measured here):

- CouchDB-style replication of the same visit records: ≈ 2,400 records/s and ≈ 840 bytes per record on the wire.
- ` + "`zstd -19`" + ` of the records as NDJSON: ≈ 53 bytes per record for the issue's sample (this run measures its own, above).
`

type result struct {
	name    string
	metrics map[string][]float64
	units   []string // in the order first seen
}

func main() {
	out, err := render(os.Stdin)
	fmt.Print(out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/table:", err)
		os.Exit(1)
	}
}

// render reads benchmark output and returns the Markdown; err reports a
// failed or empty run.
func render(r io.Reader) (string, error) {
	var (
		results = map[string]*result{}
		seen    []string
		env     []string
		failed  []string
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "Benchmark"):
			name, m, units, ok := parse(line)
			if !ok {
				continue
			}
			res := results[name]
			if res == nil {
				res = &result{name: name, metrics: map[string][]float64{}}
				results[name] = res
				seen = append(seen, name)
			}
			for _, u := range units {
				if _, had := res.metrics[u]; !had {
					res.units = append(res.units, u)
				}
				res.metrics[u] = append(res.metrics[u], m[u])
			}
		case strings.HasPrefix(line, "cpu:"), strings.HasPrefix(line, "goos:"), strings.HasPrefix(line, "goarch:"):
			if !slices.Contains(env, line) { // each package prints them
				env = append(env, line)
			}
		case strings.HasPrefix(line, "--- FAIL"), strings.HasPrefix(line, "FAIL"), strings.HasPrefix(line, "panic:"):
			failed = append(failed, line)
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}

	var b strings.Builder
	b.WriteString("| Benchmark | Figure | Measured | Target | |\n|---|---|--:|--:|:-:|\n")
	names := append([]string{}, order...)
	for _, n := range seen {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	met, missed := 0, 0
	for _, n := range names {
		res := results[n]
		if res == nil {
			continue
		}
		shown := map[string]bool{}
		first := true
		row := func(unit string, f figure) {
			vals := res.metrics[unit]
			v := median(vals)
			bench := ""
			if first {
				bench = "**" + n + "**"
				first = false
			}
			value := format(v, f.digits) + f.unit
			if len(vals) > 1 {
				value += fmt.Sprintf(" (median of %d)", len(vals))
			}
			target, mark := "", ""
			if f.target != 0 {
				if f.atMost {
					target = "≤ " + format(f.target, f.digits) + f.unit
				} else {
					target = "≥ " + format(f.target, f.digits) + f.unit
				}
				// Compare what is shown, so that a figure printed at the
				// target's value counts as meeting it.
				shownV, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', f.digits, 64), 64)
				if (f.atMost && shownV <= f.target) || (!f.atMost && shownV >= f.target) {
					mark, met = "✅", met+1
				} else {
					mark, missed = "❌", missed+1
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", bench, f.label, value, target, mark)
		}
		for _, fu := range figures[n] {
			if _, ok := res.metrics[fu.unit]; ok {
				row(fu.unit, fu.figure)
				shown[fu.unit] = true
			}
		}
		for _, u := range res.units {
			if !shown[u] {
				row(u, figure{label: u, digits: 3})
			}
		}
	}
	fmt.Fprintf(&b, "\nTargets met: %d of %d.", met, met+missed)
	if len(env) > 0 {
		fmt.Fprintf(&b, " Machine: %s.", strings.Join(env, ", "))
	}
	b.WriteString("\n\n")
	b.WriteString(notes)
	if cu := results["CatchUpLoopback"]; cu != nil && len(cu.metrics["records/s"]) > 0 && len(cu.metrics["wire-B/record"]) > 0 {
		fmt.Fprintf(&b, "- This run's catch-up against that CouchDB figure: %s× the records per second, %s× fewer bytes per record.\n",
			format(median(cu.metrics["records/s"])/couchRecordsPerSec, 1), format(couchBytesPerRecord/median(cu.metrics["wire-B/record"]), 1))
	}
	// The two stores' merge ratios side by side: each against its own
	// engine's ceiling, measured in the same iteration.
	var ratios []string
	for _, st := range []struct{ name, bench string }{{"SQLite", "ServerIngest"}, {"PostgreSQL", "ServerIngestPostgres"}} {
		if r := results[st.bench]; r != nil && len(r.metrics["merge/ceiling"]) > 0 {
			ratios = append(ratios, fmt.Sprintf("%s %s (%s of %s records/s)", st.name, format(median(r.metrics["merge/ceiling"]), 2),
				format(median(r.metrics["merge-records/s"]), 0), format(median(r.metrics["ceiling-records/s"]), 0)))
		}
	}
	if len(ratios) > 0 {
		fmt.Fprintf(&b, "- The county's merge against its store's ceiling (target ≥ 0.8): %s.\n", strings.Join(ratios, "; "))
	}
	if len(failed) > 0 {
		fmt.Fprintf(&b, "\n**The run failed:** %s\n", strings.Join(failed, "; "))
		return b.String(), fmt.Errorf("benchmarks failed: %s", failed[0])
	}
	if len(results) == 0 {
		return b.String(), fmt.Errorf("no benchmark results on stdin")
	}
	return b.String(), nil
}

// parse reads one result line: "BenchmarkName-2  1  3.5 unit  7 unit2 …".
func parse(line string) (name string, m map[string]float64, units []string, ok bool) {
	f := strings.Fields(line)
	if len(f) < 4 || len(f)%2 != 0 {
		return "", nil, nil, false
	}
	if _, err := strconv.Atoi(f[1]); err != nil {
		return "", nil, nil, false
	}
	name = strings.TrimPrefix(f[0], "Benchmark")
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			name = name[:i]
		}
	}
	m = map[string]float64{}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return "", nil, nil, false
		}
		if f[i+1] == "ns/op" && v == 0 {
			continue
		}
		m[f[i+1]] = v
		units = append(units, f[i+1])
	}
	return name, m, units, len(units) > 0
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// format writes v with the given decimals and thousands separators.
func format(v float64, digits int) string {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	s := strconv.FormatFloat(v, 'f', digits, 64)
	intPart, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(intPart, "-")
	intPart = strings.TrimPrefix(intPart, "-")
	var g strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			g.WriteByte(',')
		}
		g.WriteRune(c)
	}
	out := g.String()
	if neg {
		out = "-" + out
	}
	if frac != "" {
		out += "." + frac
	}
	return out
}
