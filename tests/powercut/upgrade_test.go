package powercut

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/testsupport"
)

// cfgOracle follows the guest's config changes: each one writes
// log_max_size_mb = seq%1024+1 and a log level from seq's parity through
// the product's own write (agent.WriteConfigFile, as the settings page).
type cfgOracle struct {
	last  int   // the last acknowledged seq; -1: none yet
	tried []int // seqs tried since, not acknowledged
	next  int   // the next boot's first seq
	acked int   // changes acknowledged in all
}

func cfgValue(seq int) (int, string) {
	if seq%2 == 1 {
		return seq%1024 + 1, "error"
	}
	return seq%1024 + 1, "warn"
}

// check judges config.json as a boot found it: it must parse and be the
// last acknowledged change or one tried after it; never half-written,
// never an older acknowledged one. It returns what is wrong, or "".
func (c *cfgOracle) check(file string) string {
	if file == "none" {
		if c.last < 0 {
			return ""
		}
		return fmt.Sprintf("config.json is gone; change %d was acknowledged", c.last)
	}
	fc, err := agent.ParseConfig(strings.NewReader(file))
	if err != nil {
		return fmt.Sprintf("config.json does not parse after the cut: %v: %.200q", err, file)
	}
	allowed := c.tried
	if c.last >= 0 {
		allowed = append([]int{c.last}, c.tried...)
	}
	for _, seq := range allowed {
		if size, level := cfgValue(seq); fc.LogMaxSizeMB == size && fc.LogLevel == level {
			return ""
		}
	}
	return fmt.Sprintf("config.json holds log_max_size_mb=%d log_level=%s, none of the last acknowledged change %d or those tried after it %v",
		fc.LogMaxSizeMB, fc.LogLevel, c.last, c.tried)
}

// oldSchema is the last migration of the "older release" an upgrade cut
// starts from. The older release is played by this build with its schema
// held back, so it must still be able to save the test's disclosures
// there: 0006 added a disclosure column (public_numbers), and a schema
// before it fails the save ("no such column"). The start after the cut
// copies the database and runs 0007_attachments.sql, which makes a table
// and its indexes.
const oldSchema = "0006_disclosure_public_numbers.sql"

// upgradeCuts pulls the plug while the agent's first start after an
// upgrade migrates the database. Each cut gets a disk of its own, made on
// the host: the static agent, limited to the older schema
// (STATIONSYNC_TEST_MIGRATIONS_THROUGH), saves a few records into a data
// directory that mkfs.ext4 -d puts on a fresh file system. The guest's
// first boot starts the agent (which copies the database and migrates it)
// and the power goes at a random moment from the mount on; the boot after
// it must start the agent by itself, find the database whole and every
// save of the older release there once. It returns the cuts made and how
// many of them failed.
func upgradeCuts(t *testing.T, h harness, rng *rand.Rand, n int, accel, kernel, initrd string, payload []byte) (cuts, failed int) {
	dir := t.TempDir()
	// How long the agent's start takes in this guest (from "PC CONFIG",
	// printed just before it, to its status): the cut falls within it
	// and a little after, where the copy and the migration run. Learnt
	// from each boot after a cut; TCG is slow, KVM fast.
	start := 1500 * time.Millisecond
	for u := 1; u <= n; u++ {
		bad := false
		errorf := func(format string, args ...any) {
			bad = true
			h.errorf("upgrade cut %d: "+format, append([]any{u}, args...)...)
		}
		root := filepath.Join(dir, fmt.Sprint(u))
		data := filepath.Join(root, "station")
		acked := map[string]string{}
		for i := 0; i < 3+rng.IntN(4); i++ {
			tag := fmt.Sprintf("u%02d-%03d", u, i)
			r := testsupport.Exec(time.Minute, []string{"STATIONSYNC_DATA=" + data, "STATIONSYNC_TEST_MIGRATIONS_THROUGH=" + oldSchema, "LOG_LEVEL=warn", "HOME=" + dir},
				bytes.ReplaceAll(payload, []byte("@TAG@"), []byte(tag)), bin.agentStatic, "add", "--kind", "disclosure", "--by", "断电测试", "--file", "-")
			if r.Err != nil {
				t.Fatalf("upgrade cut %d: save with the older schema: %v\n%s", u, r.Err, r.Stderr)
			}
			acked[tag] = strings.TrimSpace(r.Stdout)
		}
		disk := newCrashDisk(ext4Image(t, filepath.Join(dir, fmt.Sprintf("data-%d.img", u)), root))
		sock := filepath.Join(dir, fmt.Sprintf("nbd-%d.sock", u))
		served := serveDisk(t, disk, sock)
		outImg := filepath.Join(dir, "out.img")
		boot := func() *vm {
			emptyImage(t, outImg, 64<<20)
			extra := fmt.Sprintf("pc.boot=%d pc.upgrade=1", 9000+u)
			if h.mountOpts != "" {
				extra += " pc.mountopts=" + h.mountOpts
			}
			v, err := startVM(t, vmConfig{accel: accel, kernel: kernel, initrd: initrd, nbdSocket: sock, outImage: outImg, append: extra})
			if err != nil {
				t.Fatal(err)
			}
			return v
		}

		// The upgrade's boot: the plug goes at a random moment of the
		// agent's start, which copies and migrates.
		v := boot()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		for l := v.next(ctx); !strings.HasPrefix(l, "PC CONFIG"); l = v.next(ctx) {
			if l == "" {
				cancel()
				t.Fatalf("upgrade cut %d: the guest never started the agent\n%s", u, v.console(40))
			}
		}
		cancel()
		time.Sleep(time.Duration(rng.Int64N(int64(start) * 3 / 2)))
		v.cut()
		when := "before the agent's first start answered (mid-copy or mid-migration, or before)"
		for l := range v.lines {
			if strings.HasPrefix(l, "PC STATUS ") {
				when = "after the agent's first start answered (the migration done)"
			}
		}
		t.Logf("upgrade cut %d: %d saves at %s; the power went %s", u, len(acked), oldSchema, when)
		<-served
		disk.powerCut(rng)
		cuts++

		// The boot after: the agent starts by itself, whole, every save
		// of the older release there once.
		v = boot()
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Minute)
		dumped := false
		var began time.Time
		for !dumped {
			l := v.next(ctx)
			switch {
			case strings.HasPrefix(l, "PC CONFIG"):
				began = time.Now()
			case l == "":
				errorf("the guest stopped before listing its records\n%s", v.console(40))
				dumped = true
			case strings.HasPrefix(l, "PC MOUNTFAIL"):
				errorf("%s", l)
			case strings.HasPrefix(l, "PC STATUS "):
				if !strings.HasPrefix(l, "PC STATUS 0 ") {
					errorf("the agent does not start by itself after the upgrade: %s", l)
				}
				if !began.IsZero() {
					start = time.Since(began)
				}
			case strings.HasPrefix(l, "PC DOCTOR "):
				if !strings.Contains(l, "完好") {
					errorf("%s", l)
				}
			case strings.HasPrefix(l, "PC DUMPED"):
				if lost, doubled := compare(t, errorf, 9000+u, outImg, acked); lost+doubled > 0 {
					bad = true
				}
				dumped = true
			}
		}
		cancel()
		v.wait(time.Minute)
		v.cut()
		<-served
		if bad {
			failed++
		}
	}
	return cuts, failed
}

// The config oracle refuses what a cut must never leave: a half-written
// file, an older acknowledged change, a missing file after an
// acknowledgement; and accepts the last acknowledged change or a later try.
func TestConfigOracleJudges(t *testing.T) {
	file := func(seq int) string {
		size, level := cfgValue(seq)
		return fmt.Sprintf(`{"sync_interval": "1m0s", "log_level": %q, "log_max_size_mb": %d, "log_max_files": 5}`, level, size)
	}
	c := &cfgOracle{last: -1}
	if msg := c.check("none"); msg != "" {
		t.Errorf("no change yet, no file: %s", msg)
	}
	c.last, c.tried = 4, []int{5}
	for _, ok := range []int{4, 5} {
		if msg := c.check(file(ok)); msg != "" {
			t.Errorf("change %d: %s", ok, msg)
		}
	}
	for name, bad := range map[string]string{
		"older acknowledged": file(3),
		"half-written":       file(5)[:30],
		"empty":              "",
		"zeros":              "\x00\x00\x00\x00",
		"gone":               "none",
	} {
		if msg := c.check(bad); msg == "" {
			t.Errorf("%s: accepted", name)
		}
	}
}
