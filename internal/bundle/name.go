package bundle

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"stationsync/internal/zone"
)

// Ext is the extension of every bundle file; watched folders take only
// these.
const Ext = ".bundle"

// prefixes name the two kinds so that a person can tell them apart on the
// stick: 村站通-… goes to the county, 村站通回执-… back to the village.
var prefixes = map[Kind]string{Uplink: "村站通", Downlink: "村站通回执"}

// nameMu makes choosing a name and renaming to it one step within a
// process. Two processes writing bundles for the same village into the
// same folder in the same instant could still pick the same n; the later
// rename would replace the earlier file.
var nameMu sync.Mutex

// FileName is the n-th bundle name of a kind, village and day, the day
// taken in the users' zone (internal/zone), not the machine's:
// 村站通-340123101201-20261203-1.bundle.
func FileName(kind Kind, village string, at time.Time, n int) string {
	return fmt.Sprintf("%s-%s-%s-%d%s", prefixes[kind], village, zone.In(at).Format("20060102"), n, Ext)
}

// NextName returns the path in dir of the first FileName whose n is not
// taken yet.
func NextName(dir string, kind Kind, village string, at time.Time) (string, error) {
	if prefixes[kind] == "" || !validVillage(village) {
		return "", fmt.Errorf("bundle name: kind %q, village %q", kind, village)
	}
	for n := 1; n < 100000; n++ {
		p := filepath.Join(dir, FileName(kind, village, at, n))
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			return p, nil
		} else if err != nil {
			return "", fmt.Errorf("bundle name: %w", err)
		}
	}
	return "", fmt.Errorf("bundle name: folder %s is full of bundles", dir)
}

// ParseFileName reads a bundle's name back: for a watched folder's filter,
// and to show what a stick holds before it is opened. ok is false for any
// other name. The name says nothing a signature checked; Read decides.
func ParseFileName(name string) (kind Kind, village, day string, n int, ok bool) {
	rest, found := strings.CutSuffix(filepath.Base(name), Ext)
	if !found {
		return "", "", "", 0, false
	}
	parts := strings.Split(rest, "-")
	if len(parts) != 4 || !validVillage(parts[1]) || len(parts[2]) != 8 {
		return "", "", "", 0, false
	}
	for k, p := range prefixes {
		if p == parts[0] {
			kind = k
		}
	}
	if kind == "" {
		return "", "", "", 0, false
	}
	if _, err := time.Parse("20060102", parts[2]); err != nil {
		return "", "", "", 0, false
	}
	n, err := strconv.Atoi(parts[3])
	if err != nil || n < 1 || strconv.Itoa(n) != parts[3] {
		return "", "", "", 0, false
	}
	return kind, parts[1], parts[2], n, true
}
