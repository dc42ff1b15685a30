// Package powercut pulls the plug on a station PC and checks that every
// save the station answered "已保存" for is still there, once, when the
// power comes back, and reaches the county once.
//
// # The machine
//
// The station is a real Linux guest under QEMU: Debian's distribution
// kernel, an initramfs with busybox-static and the static station-agent
// (built as the .debs build it: cgo, -extldflags -static). Its data
// directory is an ext4 file system on a virtio disk. KVM is used where it
// works; elsewhere (this project's CI machine is a Firecracker VM whose
// nested KVM does not boot a guest) QEMU emulates the CPU (TCG).
//
// # Why the disk is ours
//
// A power cut loses what the disk had acknowledged but not yet made
// durable. Killing QEMU alone does not show that: every write QEMU passed
// on sits in the host's page cache, which survives the kill, so a
// "disk" backed by a host file forgets nothing (cache=writeback), or
// everything is written through and ordering bugs hide (cache=directsync,
// cache.writeback=off). cache=unsafe even ignores the guest's flushes.
//
// So the guest's disk is served by this test over NBD (QEMU's native
// network block device client, a virtio-blk device with write-cache=on in
// the guest): a disk with a volatile write cache, written in 4 KiB
// sectors. A write is acknowledged and cached; FLUSH makes every earlier
// write durable; a FUA write is durable when acknowledged. At a cut the
// test SIGKILLs QEMU and then keeps a random subset of the cached writes,
// in random order (some cuts keep none, some nearly all, as a disk that
// reorders its cache does), and drops the rest. Nothing the guest flushed
// is ever lost and anything it did not flush may be: the strongest model
// fsync's contract allows, and one we can state exactly (crashDisk).
//
// # The oracle
//
// The guest saves records through the station's command line (the same
// Store.Save the station's pages call), one process per save, while the
// station service runs and syncs to a real county-server on the host every
// second (through QEMU's user network, 10.0.2.2), and, on the first boot,
// while the station enrols. A save counts as acknowledged only when the
// host has read its "PC ACK" line from the serial console: the answer left
// the machine. After each cut the guest boots again on the same disk and,
// before anything else, asks the agent for its status and its doctor
// (PRAGMA integrity_check) and writes the station's record list to a second
// disk, which the host compares with the acknowledged saves: each must be
// there with its content, exactly once. After the last cut the guest syncs
// and the county must hold each acknowledged save once (revision 1: a
// change applied twice shows as revision 2).
//
// Every third step of the load also changes config.json through the
// product's own write (agent.WriteConfigFile, as the settings page does;
// the hidden `station-agent x-test-config`), acknowledged like a save. At
// the next boot config.json must parse and be the last acknowledged change
// or one tried after it: never half-written, never an older one.
//
// After the cuts above, upgradeCuts (upgrade_test.go) cuts the power
// during upgrades: each on a fresh disk holding a database at the older
// schema with saves made on the host, cut at a random moment of the boot
// whose agent copies and migrates it; the next boot must start, pass
// integrity_check and list each of those saves once.
//
// The station has no attachments; the cuts cover saves, config changes,
// the sync service, enrolment (first boot), the first boot's migrations
// and an upgrade's.
//
// POWERCUT_CUTS=N sets the number of cuts (default 10; `make powercut` runs
// 200), POWERCUT_SEED=S replays a run, POWERCUT_ACCEL=kvm|tcg skips the
// probe, POWERCUT_KERNEL_DIR names the unpacked kernel (default: what
// scripts/install-powercut-deps.sh prints), POWERCUT_RESULTS=FILE writes the
// table there too. Without QEMU or a kernel the test is skipped, saying
// which script installs them.
package powercut

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"stationsync/internal/gen"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
)

var bin struct{ agentStatic, server string }

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "stationsync-powercut-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "powercut:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin.agentStatic = filepath.Join(dir, "station-agent")
	bin.server = filepath.Join(dir, "county-server")
	if _, err := exec.LookPath("qemu-system-x86_64"); err == nil {
		// The guest has no libc: the agent is linked statically, as
		// installer/packaging/build.sh links the .deb's.
		if err := testsupport.GoBuild("-trimpath", "-tags", "netgo osusergo sqlite_omit_load_extension "+testsupport.TestTags,
			"-ldflags", "-s -w -linkmode external -extldflags -static", "-o", bin.agentStatic, "stationsync/cmd/station-agent"); err != nil {
			fmt.Fprintln(os.Stderr, "powercut: static build:", err)
			return 1
		}
		if err := testsupport.GoBuild("-tags", testsupport.TestTags, "-o", bin.server, "stationsync/cmd/county-server"); err != nil {
			fmt.Fprintln(os.Stderr, "powercut:", err)
			return 1
		}
	}
	return m.Run()
}

// kernelDir finds the unpacked guest kernel, or skips the test.
func kernelDir(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 not installed: run scripts/install-powercut-deps.sh (make test does)")
	}
	if d := os.Getenv("POWERCUT_KERNEL_DIR"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	cache := os.Getenv("POWERCUT_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "stationsync", "powercut")
	}
	d := filepath.Join(cache, "kernel")
	if _, err := os.Stat(filepath.Join(d, "boot")); err != nil {
		t.Skip("no guest kernel in " + d + ": run scripts/install-powercut-deps.sh (make test does)")
	}
	return d
}

const village = "340123101201"

// cutResult is one row's worth of what a cut did.
type cutResult struct {
	acked, lost, doubled int
	cfgWrong             int // config.json not what was acknowledged
	repair               bool
	kept, dropped        int
	took                 time.Duration
}

func TestPowerCuts(t *testing.T) {
	cuts := 10
	if testing.Short() {
		cuts = 3
	}
	if s := os.Getenv("POWERCUT_CUTS"); s != "" {
		cuts, _ = strconv.Atoi(s)
	}
	powerCuts(t, harness{cuts: cuts, errorf: t.Errorf})
}

// The harness sees a lost save when there is one: with ext4 mounted
// nobarrier the guest never sends a FLUSH, so every fsync the agent makes
// is a lie, and cuts that lose the disk's whole cache must lose
// acknowledged saves. A harness that found nothing here would prove
// nothing with barriers on either.
func TestPowerCutsSeeUnflushedSaves(t *testing.T) {
	if testing.Short() {
		t.Skip("the negative control runs in the full test run")
	}
	if os.Getenv("POWERCUT_CUTS") != "" {
		t.Skip("a long run is about the real station")
	}
	s := powerCuts(t, harness{cuts: 3, mountOpts: "nobarrier", keepNone: true, errorf: t.Logf})
	if s.lost+s.countyLost == 0 {
		t.Errorf("3 cuts without flushes lost none of %d acknowledged saves: the harness cannot see a lost save", s.acked)
	}
}

// harness is one run's settings; errorf reports a lost, doubled or broken
// state (t.Errorf, or t.Logf where losses are expected).
type harness struct {
	cuts      int
	mountOpts string // ext4 mount options in the guest
	keepNone  bool   // cuts lose every cached write
	errorf    func(format string, args ...any)
}

type summary struct{ acked, lost, countyLost int }

func powerCuts(t *testing.T, h harness) summary {
	kdir := kernelDir(t)
	cuts := h.cuts
	errorf := h.errorf
	seed := int64(testsupport.Seed(t, "POWERCUT_SEED"))
	t.Logf("%d cuts", cuts)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b9))

	dir := t.TempDir()
	kernel, err := kernelImage(kdir)
	if err != nil {
		t.Fatal(err)
	}
	// Payloads: real notices, each title carrying a tag the guest fills
	// in, so a save found twice under two ids shows.
	g := gen.New(seed)
	var payloads [][]byte
	for i := 0; i < 20; i++ {
		d := g.Disclosure("")
		d["title"] = fmt.Sprint(d["title"]) + "〔@TAG@〕"
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		payloads = append(payloads, b)
	}
	initrd := filepath.Join(dir, "initrd.cpio")
	if err := writeInitramfs(initrd, kdir, bin.agentStatic, payloads); err != nil {
		t.Fatal(err)
	}
	accel := chooseAccel(t, kernel, initrd)

	// The county, on the host; the guest reaches it as 10.0.2.2.
	county := testsupport.NewCountyProc(t, bin.server)
	county.Start()
	code := county.Code(village)
	_, port, _ := net.SplitHostPort(county.Addr)

	// The data disk: a fresh ext4, as the installer's first run finds it.
	disk := newCrashDisk(ext4Image(t, filepath.Join(dir, "data.img"), ""))
	disk.keepNone = h.keepNone
	sock := filepath.Join(dir, "nbd.sock")
	served := serveDisk(t, disk, sock)
	outImg := filepath.Join(dir, "out.img")

	acked := map[string]string{} // tag → record id
	cfg := &cfgOracle{last: -1}
	var results []cutResult
	boot := 0
	bootVM := func(final bool) (*vm, time.Time) {
		boot++
		emptyImage(t, outImg, 64<<20)
		extra := fmt.Sprintf("pc.boot=%d pc.county=http://10.0.2.2:%s pc.code=%s pc.cfgseq=%d", boot, port, code, cfg.next)
		if h.mountOpts != "" {
			extra += " pc.mountopts=" + h.mountOpts
		}
		if final {
			extra += " pc.final=1"
		}
		v, err := startVM(t, vmConfig{accel: accel, kernel: kernel, initrd: initrd, nbdSocket: sock, outImage: outImg, append: extra})
		if err != nil {
			t.Fatal(err)
		}
		return v, time.Now()
	}

	// check reads a boot's first lines up to the record list and compares
	// it with what was acknowledged. It returns the result and whether the
	// guest went on to its load.
	check := func(v *vm, res *cutResult) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		for {
			l := v.next(ctx)
			switch {
			case l == "":
				errorf("boot %d: the guest stopped before listing its records\n%s", boot, v.console(40))
				res.repair = true
				return false
			case strings.HasPrefix(l, "PC MOUNTFAIL"), strings.HasPrefix(l, "PC INSMOD"):
				errorf("boot %d: %s", boot, l)
				res.repair = true
			case strings.HasPrefix(l, "PC STATUS "):
				if !strings.HasPrefix(l, "PC STATUS 0 ") {
					errorf("boot %d: the agent does not start by itself: %s", boot, l)
					res.repair = true
				}
			case strings.HasPrefix(l, "PC CONFIG "):
				if msg := cfg.check(strings.TrimPrefix(l, "PC CONFIG ")); msg != "" {
					errorf("boot %d: %s", boot, msg)
					res.cfgWrong++
				}
			case strings.HasPrefix(l, "PC DOCTOR "):
				if !strings.Contains(l, "完好") && !strings.Contains(l, "还没有数据库") {
					errorf("boot %d: %s", boot, l)
					res.repair = true
				}
			case strings.HasPrefix(l, "PC DUMPED"):
				lost, doubled := compare(t, errorf, boot, outImg, acked)
				res.lost += lost
				res.doubled += doubled
				return true
			}
		}
	}

	start := time.Now()
	v, began := bootVM(false)
	for cut := 1; cut <= cuts; cut++ {
		res := cutResult{}
		// Most cuts fall while the station saves and syncs; one in ten
		// during the boot and recovery itself.
		var after time.Duration
		if rng.IntN(10) == 0 {
			after = time.Until(began.Add(time.Duration(rng.Int64N(int64(6 * time.Second)))))
		} else {
			if !check(v, &res) {
				v.cut()
				<-served
				res.kept, res.dropped = disk.powerCut(rng)
				results = append(results, res)
				if cut == cuts {
					break
				}
				v, began = bootVM(false)
				continue
			}
			ready, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			for l := v.next(ready); !strings.HasPrefix(l, "PC READY"); l = v.next(ready) {
				if l == "" {
					t.Fatalf("boot %d: the guest never started its load\n%s", boot, v.console(40))
				}
				noteLine(t, boot, l, acked, cfg)
			}
			cancel()
			after = time.Duration(500+rng.IntN(5500)) * time.Millisecond
		}
		timer := time.NewTimer(max(after, 0))
	load:
		for {
			select {
			case l, ok := <-v.lines:
				if !ok {
					t.Fatalf("boot %d: the guest stopped by itself\n%s", boot, v.console(40))
				}
				noteLine(t, boot, l, acked, cfg)
			case <-timer.C:
				break load
			}
		}
		// Two cuts in three wait (a little) for the disk's cache to hold
		// a write: a cut where everything was flushed proves little.
		if rng.IntN(3) > 0 {
			disk.waitCached(2 * time.Second)
		}
		v.cut()
		// Every line QEMU wrote before it died is still in the pipe.
		for l := range v.lines {
			noteLine(t, boot, l, acked, cfg)
		}
		<-served
		res.kept, res.dropped = disk.powerCut(rng)
		res.acked = len(acked)
		res.took = time.Since(began)
		results = append(results, res)
		if p := os.Getenv("POWERCUT_RESULTS"); p != "" && !h.keepNone {
			// A long run leaves its figures so far, should it be stopped.
			os.WriteFile(p, []byte(resultTable(results, len(acked), -1, -1, tallies{cfgAcked: cfg.acked, upCuts: -1}, accel, time.Since(start), disk)), 0o644)
		}
		if cut == cuts || t.Failed() && os.Getenv("POWERCUT_KEEP_GOING") == "" {
			break
		}
		v, began = bootVM(false)
	}
	// The boot after the last cut checks as every boot does, then syncs.
	v, _ = bootVM(true)
	last := cutResult{}
	if check(v, &last) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		for l := v.next(ctx); ; l = v.next(ctx) {
			if l == "" {
				errorf("final boot: no sync result\n%s", v.console(40))
				break
			}
			if strings.HasPrefix(l, "PC SYNCED ") {
				t.Log(l)
				break
			}
		}
		cancel()
	}
	v.wait(time.Minute)
	v.cut()
	<-served
	if len(results) > 0 {
		results[len(results)-1].lost += last.lost
		results[len(results)-1].doubled += last.doubled
		results[len(results)-1].cfgWrong += last.cfgWrong
		results[len(results)-1].repair = results[len(results)-1].repair || last.repair
	}
	countyLost, countyDoubled := checkCounty(errorf, county, acked)
	county.Stop()
	tal := tallies{cfgAcked: cfg.acked, upCuts: -1}
	if !h.keepNone {
		// The upgrade's cuts, each on a disk of its own (upgrade_test.go).
		tal.upCuts, tal.upFailed = upgradeCuts(t, h, rng, max(2, cuts/10), accel, kernel, initrd, payloads[0])
	}
	table := resultTable(results, len(acked), countyLost, countyDoubled, tal, accel, time.Since(start), disk)
	t.Log("\n" + table)
	fmt.Println(table)
	if p := os.Getenv("POWERCUT_RESULTS"); p != "" && !h.keepNone {
		os.WriteFile(p, []byte(table), 0o644)
	}
	sum := summary{acked: len(acked), countyLost: countyLost}
	for _, r := range results {
		sum.lost += r.lost
	}
	sum.acked += sum.lost
	return sum
}

// noteLine records an acknowledged save.
func noteLine(t *testing.T, boot int, l string, acked map[string]string, cfg *cfgOracle) {
	switch {
	case strings.HasPrefix(l, "PC CFGTRY "), strings.HasPrefix(l, "PC CFGACK "):
		f := strings.Fields(l)
		if len(f) < 3 {
			return
		}
		seq, err := strconv.Atoi(f[2])
		if err != nil {
			return
		}
		if f[1] == "CFGTRY" {
			cfg.tried = append(cfg.tried, seq)
			cfg.next = max(cfg.next, seq+1)
		} else {
			cfg.last, cfg.tried = seq, nil
			cfg.acked++
		}
	case strings.HasPrefix(l, "PC CFGFAIL "):
		t.Logf("boot %d: %s", boot, l)
	case strings.HasPrefix(l, "PC ACK "):
		f := strings.Fields(l)
		if len(f) >= 4 {
			acked[f[2]] = f[3]
		}
	case strings.HasPrefix(l, "PC ENROLL "):
		if !strings.HasPrefix(l, "PC ENROLL 0 ") {
			t.Logf("boot %d: %s", boot, l)
		}
	case strings.HasPrefix(l, "PC ADDFAIL "):
		// A save the station refused with a message is not acknowledged;
		// it is worth seeing.
		t.Logf("boot %d: %s", boot, l)
	}
}

// listed is a record as `station-agent list` prints it.
type listed struct {
	ID     string
	Fields map[string]any
}

var tagRE = func(title string) string {
	i := strings.LastIndex(title, "〔")
	j := strings.LastIndex(title, "〕")
	if i < 0 || j < i {
		return ""
	}
	return title[i+len("〔") : j]
}

// compare reads the guest's record list from the output disk and counts
// acknowledged saves missing (lost) and saves present more than once.
func compare(t *testing.T, errorf func(string, ...any), boot int, outImg string, acked map[string]string) (lost, doubled int) {
	t.Helper()
	b, err := os.ReadFile(outImg)
	if err != nil {
		t.Fatal(err)
	}
	end := bytes.Index(b, []byte("\n#END"))
	if end < 0 {
		errorf("boot %d: the record list is cut short", boot)
		return len(acked), 0
	}
	var list []listed
	if body := bytes.TrimSpace(b[:end]); len(body) > 0 && string(body) != "null" {
		if err := json.Unmarshal(body, &list); err != nil {
			errorf("boot %d: record list: %v\n%.300s", boot, err, body)
			return len(acked), 0
		}
	}
	byTag := map[string][]string{}
	for _, r := range list {
		tag := tagRE(fmt.Sprint(r.Fields["title"]))
		byTag[tag] = append(byTag[tag], r.ID)
	}
	for tag, id := range acked {
		ids := byTag[tag]
		switch {
		case len(ids) == 0:
			lost++
			delete(acked, tag) // counted once
			errorf("boot %d: acknowledged save %s (%s) is gone", boot, tag, id)
		case len(ids) > 1:
			doubled++
			errorf("boot %d: save %s is there %d times: %v", boot, tag, len(ids), ids)
		case ids[0] != id:
			lost++
			errorf("boot %d: save %s is there as %s, acknowledged as %s", boot, tag, ids[0], id)
		}
	}
	return lost, doubled
}

// checkCounty compares the county's records with the acknowledged saves.
func checkCounty(errorf func(string, ...any), county *testsupport.CountyProc, acked map[string]string) (lost, doubled int) {
	recs := county.Records(records.Disclosure, village)
	byTag := map[string][]int{}
	for i, r := range recs {
		tag := tagRE(records.TextValue(r.Fields, "title"))
		byTag[tag] = append(byTag[tag], i)
	}
	for tag, id := range acked {
		at := byTag[tag]
		switch {
		case len(at) == 0:
			lost++
			errorf("county: acknowledged save %s (%s) never arrived", tag, id)
		case len(at) > 1:
			doubled++
			errorf("county: save %s arrived %d times", tag, len(at))
		case recs[at[0]].Rev != 1:
			doubled++
			errorf("county: save %s has revision %d: applied more than once", tag, recs[at[0]].Rev)
		}
	}
	return lost, doubled
}

// tallies are the table's columns beyond the saves: config changes and
// upgrades (upCuts < 0: not run yet).
type tallies struct{ cfgAcked, upCuts, upFailed int }

func resultTable(results []cutResult, acked, countyLost, countyDoubled int, tal tallies, accel string, total time.Duration, disk *crashDisk) string {
	var lost, doubled, repair, kept, dropped, cfgWrong int
	var took []time.Duration
	for _, r := range results {
		lost += r.lost
		doubled += r.doubled
		kept += r.kept
		dropped += r.dropped
		cfgWrong += r.cfgWrong
		if r.repair {
			repair++
		}
		if r.took > 0 {
			took = append(took, r.took)
		}
	}
	acked += lost // a lost save was taken out of the map when counted
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	med := time.Duration(0)
	if len(took) > 0 {
		med = took[len(took)/2]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "RESULT power cuts (QEMU %s, NBD crash disk, ext4)\n", accel)
	fmt.Fprintf(&b, "| cuts | acknowledged saves | lost | doubled | boots needing repair | at the county: lost / doubled | config changes acknowledged / wrong after a cut | upgrade cuts / failed | time per cut (median) |\n")
	fmt.Fprintf(&b, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	county := fmt.Sprintf("%d / %d", countyLost, countyDoubled)
	if countyLost < 0 {
		county = "(run in progress: checked after the last cut)"
	}
	upgrades := fmt.Sprintf("%d / %d", tal.upCuts, tal.upFailed)
	if tal.upCuts < 0 {
		upgrades = "(after the last cut)"
	}
	fmt.Fprintf(&b, "| %d | %d | %d | %d | %d | %s | %d / %d | %s | %.1f s |\n", len(results), acked, lost, doubled, repair, county, tal.cfgAcked, cfgWrong, upgrades, med.Seconds())
	fmt.Fprintf(&b, "disk: %d writes, %d flushes, %d FUA; at the cuts %d cached sector writes kept, %d lost; total %s\n",
		disk.stats.writes, disk.stats.flushes, disk.stats.fua, kept, dropped, total.Round(time.Second))
	return b.String()
}

// chooseAccel uses KVM when a guest boots under it within a few seconds,
// TCG otherwise.
func chooseAccel(t *testing.T, kernel, initrd string) string {
	t.Helper()
	if a := os.Getenv("POWERCUT_ACCEL"); a != "" {
		return a
	}
	if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err == nil {
		f.Close()
		v, err := startVM(t, vmConfig{accel: "kvm", kernel: kernel, initrd: initrd, append: "pc.probe=1"})
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			l := v.next(ctx)
			cancel()
			v.cut()
			if l == "PC PROBE ok" {
				t.Log("accelerator: kvm")
				return "kvm"
			}
		}
		t.Log("accelerator: tcg (/dev/kvm is there but a guest does not boot under it in 20 s)")
		return "tcg"
	}
	t.Log("accelerator: tcg (no usable /dev/kvm)")
	return "tcg"
}

// ext4Image makes a 128 MiB ext4 file system at path (holding the files
// of root, if not "") and returns its bytes; the file is removed.
func ext4Image(t *testing.T, path, root string) []byte {
	t.Helper()
	emptyImage(t, path, 128<<20)
	args := []string{"-q", "-F", "-b", "4096", "-L", "stationdata"}
	if root != "" {
		args = append(args, "-d", root)
	}
	testsupport.MustExec(t, nil, nil, "mkfs.ext4", append(args, path)...)
	image, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	return image
}

// emptyImage makes path an empty (sparse) file of size bytes.
func emptyImage(t *testing.T, path string, size int64) {
	t.Helper()
	os.Remove(path)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

// serveDisk serves disk over NBD on a Unix socket at sock until the test
// ends; each connection's end (a VM gone) is sent on the
// channel returned.
func serveDisk(t *testing.T, disk *crashDisk, sock string) <-chan error {
	t.Helper()
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	served := make(chan error, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			served <- disk.serveNBD(c)
		}
	}()
	return served
}
