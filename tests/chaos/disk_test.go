package chaos

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/testsupport"
)

// mountTmpfs mounts a small tmpfs at dir (root only) and unmounts it when
// the test ends; it skips the test where mounting is not allowed.
func mountTmpfs(t *testing.T, dir string, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() {
		exec.Command("mount", "-o", "remount,rw", dir).Run()
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
}

func remount(t *testing.T, dir, mode string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,"+mode, dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s %s: %v %s", dir, mode, err, out)
	}
}

// fill writes a file until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 16<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
}

// TestDiskFullAndReadOnly: the station's data folder is on a small tmpfs.
// The disk fills up while the cadre records and the agent syncs: saves are
// refused with a clear Chinese message (and `status` says so) rather than
// half-written, and the station takes records again by itself once space
// returns. Then the folder is made read-only: the agent refuses to start
// with a clear message, and starts normally once it is writable again.
// Nothing accepted is lost, and the database passes integrity_check.
func TestDiskFullAndReadOnly(t *testing.T) {
	seed := seedFor(t)
	began := time.Now()
	mnt := filepath.Join(t.TempDir(), "mnt")
	// Room for the station's own database and WAL to grow over the cycles;
	// the filler takes the rest.
	mountTmpfs(t, mnt, "32m")
	c := testsupport.NewCounty(t)
	px := c.Link
	const village = "340123106221"
	dir := filepath.Join(mnt, "station")
	s := testsupport.OpenStation(t, dir, testsupport.FastConfig())
	s.MustEnroll(t, px.URL(), c.Code(t, village), village)
	o := newOracle()
	d := newDriver(o, seed, village, "孙主任")
	var f faults
	s.Start()
	cycles := size(2, 10)
	for cycle := 0; cycle < cycles; cycle++ {
		d.steps(t, s.Store, 20)
		// The disk fills up (a video copied to the desktop).
		filler := filepath.Join(mnt, "filler.bin")
		fill(t, filler)
		f.add("disk-full", 1)
		before := d.refused
		for i := 0; i < 400 && d.refused == before; i++ {
			d.steps(t, s.Store, 1)
		}
		if d.refused == before {
			t.Fatalf("400 saves on a full disk were all accepted")
		}
		d.steps(t, s.Store, 10) // refused too, quickly, while the disk stays full
		st, err := s.Status(ctxb)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(st.StorageError, "磁盘空间已满") {
			t.Errorf("status on a full disk: storage_error=%q", st.StorageError)
		}
		// Space returns: the station takes records again by itself.
		os.Remove(filler)
		time.Sleep(1100 * time.Millisecond)
		accepted := o.Accepted()
		d.steps(t, s.Store, 5)
		if o.Accepted() == accepted {
			t.Errorf("after space returned, saves are still refused")
		}
		if st, _ := s.Status(ctxb); st.StorageError != "" {
			t.Errorf("after space returned, status still says %q", st.StorageError)
		}
	}
	// The folder turns read-only while the agent is stopped.
	s.Halt()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	remount(t, mnt, "ro")
	f.add("read-only-dir", 1)
	a, err := agent.Open(ctxb, agent.Config{DataDir: dir, Logger: testsupport.Quiet})
	if err == nil {
		a.Close()
	}
	var se *agent.StorageError
	if !errors.As(err, &se) || !se.ReadOnly || !strings.Contains(err.Error(), "不能写入") {
		t.Errorf("opening a read-only data folder: %v, want a StorageError saying 不能写入", err)
	}
	out := testsupport.Exec(time.Minute, nil, nil, bin.Agent, "status", "--data", dir).Output()
	if !strings.Contains(out, "不能写入") {
		t.Errorf("station-agent status on a read-only folder says:\n%s", out)
	}
	remount(t, mnt, "rw")
	s2 := testsupport.OpenStation(t, dir, testsupport.FastConfig())
	s2.Village = village
	s = s2
	d.steps(t, s.Store, 10)
	testsupport.Settle(t, []*station{s2}, 2*time.Minute)
	tl := verify(t, c.Store, []*agent.Agent{s2.Agent}, o)
	s2.Close()
	testsupport.CheckIntegrity(t, s2.DBPath())
	record(t, result{scenario: "disk", seed: seed, faults: f.snapshot(), tally: tl, took: time.Since(began),
		notes: "32 MB tmpfs filled to the last byte; " + itoa(int64(d.refused)) + " saves refused while full (not journaled: the cadre was told)"})
}
