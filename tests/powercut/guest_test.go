package powercut

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"stationsync/internal/testproc"
)

// guestModules are the kernel modules the guest loads, in dependency
// order: Debian's kernel builds virtio, ext4 and their helpers as modules.
var guestModules = []string{
	"virtio", "virtio_ring", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci",
	"virtio_blk", "failover", "net_failover", "virtio_net",
	"crc16", "crc32c_generic", "libcrc32c", "mbcache", "jbd2", "ext4",
}

// initScript is the guest's /init (busybox sh). Every line meant for the
// host starts with "PC ": the serial console is the only way out, so a
// save the host never read "PC ACK" for was never acknowledged.
//
// Each boot: mount the data disk (ext4 replays its journal), ask the
// agent for its status and its doctor (integrity_check), write the list
// of records to the second disk for the host to compare, then enrol if
// not enrolled yet, start the service (syncing every second) and save
// records until the power goes.
const initScript = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev /data /tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for a in $(cat /proc/cmdline); do case "$a" in pc.*=*) k=${a%%=*}; k=${k#pc.}; eval "PC_$k=\${a#*=}";; esac; done
if [ -n "$PC_probe" ]; then echo "PC PROBE ok"; poweroff -f; fi
# Without modules.dep, load in passes until every module's symbols are there.
todo=$(cat /modules)
for pass in 1 2 3 4 5 6; do
	left=
	for m in $todo; do insmod /lib/modules/$m.ko 2>/dev/null || left="$left $m"; done
	todo=$left
done
[ -z "$todo" ] || echo "PC INSMOD cannot load:$todo"
ip link set lo up
ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2
OUT=
for d in /sys/block/vd*; do [ "$(cat $d/serial 2>/dev/null)" = out ] && OUT=/dev/${d##*/}; done
DISK=
for d in /sys/block/vd*; do [ "$(cat $d/serial 2>/dev/null)" = data ] && DISK=/dev/${d##*/}; done
if ! mount -t ext4 ${PC_mountopts:+-o $PC_mountopts} $DISK /data 2>/tmp/mount; then echo "PC MOUNTFAIL $(cat /tmp/mount)"; poweroff -f; fi
echo "PC MOUNTED $(cut -d" " -f1 /proc/uptime)"
D=/data/station
# Stations that ask to confirm records made before enrolment take --yes.
YES=; station-agent enroll --help 2>&1 | grep -q -- -yes && YES=--yes
export HOME=/tmp STATIONSYNC_DATA=$D LOG_LEVEL=warn
# config.json as the cut left it, before any agent runs (newlines dropped).
if [ -e $D/config.json ]; then echo "PC CONFIG $(tr -d '\n' <$D/config.json)"; else echo "PC CONFIG none"; fi
station-agent status --json >/tmp/status 2>/tmp/status.err
echo "PC STATUS $? $(tr -d '\n' </tmp/status) $(tr '\n' ' ' </tmp/status.err)"
station-agent doctor 2>&1 | grep 数据库 | sed 's/^/PC DOCTOR /'
{ station-agent list --kind disclosure 2>/tmp/list.err; echo; echo "#END"; } >$OUT
sync
echo "PC DUMPED $(tr '\n' ' ' </tmp/list.err)"
# An upgrade boot only starts (and so migrates) the agent and lists.
if [ -n "$PC_upgrade" ]; then poweroff -f; fi
if [ -n "$PC_final" ]; then
	if ! grep -q '"enrolled": *true' /tmp/status; then station-agent enroll $YES --server "$PC_county" --code "$PC_code" >/tmp/enroll 2>&1; echo "PC ENROLL $? $(tr '\n' ' ' </tmp/enroll)"; fi
	n=0; while [ $n -lt 30 ]; do station-agent sync >/tmp/sync 2>&1 && break; n=$((n+1)); sleep 1; done
	echo "PC SYNCED $n $(tail -c 300 /tmp/sync | tr '\n' ' ')"
	sync; poweroff -f
fi
if ! grep -q '"enrolled": *true' /tmp/status; then
	( station-agent enroll $YES --server "$PC_county" --code "$PC_code" >/tmp/enroll 2>&1; echo "PC ENROLL $? $(tr '\n' ' ' </tmp/enroll)" ) &
fi
station-agent run --interval 1s >/tmp/run.log 2>&1 &
echo "PC READY $(cut -d" " -f1 /proc/uptime)"
i=0
j=0
np=$(ls /payload | wc -l)
while :; do
	# Every third step changes config.json as the settings page does; the
	# host hands each boot its first sequence number (pc.cfgseq).
	if [ $((i % 3)) = 2 ]; then
		cs=$((PC_cfgseq + j)); j=$((j+1))
		lv=warn; [ $((cs % 2)) = 1 ] && lv=error
		echo "PC CFGTRY $cs"
		if station-agent x-test-config $((cs % 1024 + 1)) $lv >/tmp/cfg.out 2>&1; then echo "PC CFGACK $cs"; else echo "PC CFGFAIL $cs $(tr '\n' ' ' </tmp/cfg.out)"; fi
	fi
	tag=$(printf 'b%04d-%05d' $PC_boot $i)
	sed "s/@TAG@/$tag/" /payload/$((i % np)).json >/tmp/p.json
	if id=$(station-agent add --kind disclosure --by 断电测试 --file /tmp/p.json 2>/tmp/add.err); then
		echo "PC ACK $tag $id $(cut -d" " -f1 /proc/uptime)"
	else
		echo "PC ADDFAIL $tag $(tr '\n' ' ' </tmp/add.err)"
	fi
	i=$((i+1))
done
`

// writeInitramfs writes a newc cpio archive (uncompressed: the kernel
// takes it as it is) with busybox, the static station-agent, the
// modules, /init and the payloads.
func writeInitramfs(path, kernelDir, agentBin string, payloads [][]byte) error {
	type entry struct {
		name string
		mode uint32
		data []byte
	}
	var entries []entry
	dir := func(n string) { entries = append(entries, entry{n, 0o040755, nil}) }
	file := func(n string, mode uint32, b []byte) { entries = append(entries, entry{n, 0o100000 | mode, b}) }
	for _, d := range []string{"bin", "dev", "proc", "sys", "data", "tmp", "lib", "lib/modules", "payload"} {
		dir(d)
	}
	for _, src := range []struct{ name, from string }{{"bin/busybox", "/bin/busybox"}, {"bin/station-agent", agentBin}} {
		b, err := os.ReadFile(src.from)
		if err != nil {
			return err
		}
		file(src.name, 0o755, b)
	}
	file("init", 0o755, []byte(initScript))
	mods, err := findModules(kernelDir)
	if err != nil {
		return err
	}
	for _, m := range guestModules {
		b, err := os.ReadFile(mods[m])
		if err != nil {
			return fmt.Errorf("module %s: %w", m, err)
		}
		file("lib/modules/"+m+".ko", 0o644, b)
	}
	file("modules", 0o644, []byte(strings.Join(guestModules, "\n")+"\n"))
	for i, p := range payloads {
		file(fmt.Sprintf("payload/%d.json", i), 0o644, p)
	}

	var buf bytes.Buffer
	hdr := func(ino int, name string, mode uint32, size int) {
		fmt.Fprintf(&buf, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, len(name)+1, 0)
		buf.WriteString(name)
		buf.WriteByte(0)
		for buf.Len()%4 != 0 {
			buf.WriteByte(0)
		}
	}
	for i, e := range entries {
		hdr(i+1, e.name, e.mode, len(e.data))
		buf.Write(e.data)
		for buf.Len()%4 != 0 {
			buf.WriteByte(0)
		}
	}
	hdr(len(entries)+1, "TRAILER!!!", 0, 0)
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// findModules maps module names to their .ko files in the unpacked kernel
// package.
func findModules(kernelDir string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(filepath.Join(kernelDir, "lib", "modules"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".ko") {
			out[strings.TrimSuffix(d.Name(), ".ko")] = p
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, m := range guestModules {
		if out[m] == "" {
			return nil, fmt.Errorf("module %s not in %s", m, kernelDir)
		}
	}
	return out, nil
}

// kernelImage is the guest's vmlinuz in the unpacked kernel package.
func kernelImage(kernelDir string) (string, error) {
	list, _ := filepath.Glob(filepath.Join(kernelDir, "boot", "vmlinuz-*"))
	if len(list) == 0 {
		return "", fmt.Errorf("no vmlinuz in %s (run scripts/install-powercut-deps.sh)", kernelDir)
	}
	sort.Strings(list)
	return list[len(list)-1], nil
}

// vm is one boot of the guest: a QEMU process whose serial console is read
// line by line.
type vm struct {
	cmd   *exec.Cmd
	lines chan string
	done  chan struct{}
	mu    sync.Mutex
	log   bytes.Buffer // the whole console, for failure messages
}

type vmConfig struct {
	accel, kernel, initrd, nbdSocket, outImage string
	append                                     string
}

// startVM boots a guest; it is killed when the test ends, if nothing
// pulled its plug before.
func startVM(t testing.TB, c vmConfig) (*vm, error) {
	args := []string{
		"-accel", c.accel, "-m", "512", "-smp", "1",
		"-nodefaults", "-display", "none", "-serial", "stdio", "-no-reboot",
		"-kernel", c.kernel, "-initrd", c.initrd,
		"-append", "console=ttyS0 quiet panic=-1 " + c.append,
	}
	if c.nbdSocket != "" {
		args = append(args,
			// The guest sees a disk with a volatile write cache
			// (write-cache=on) and so sends FLUSH and FUA, which the
			// crash disk honours and nothing else does.
			"-blockdev", "driver=nbd,node-name=data,server.type=unix,server.path="+c.nbdSocket+",export=data",
			"-device", "virtio-blk-pci,drive=data,serial=data,write-cache=on",
			"-blockdev", "driver=raw,node-name=out,file.driver=file,file.filename="+c.outImage,
			"-device", "virtio-blk-pci,drive=out,serial=out",
			"-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0",
		)
	}
	cmd := exec.Command("qemu-system-x86_64", args...)
	testproc.DieWithParent(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start qemu: %w", err)
	}
	v := &vm{cmd: cmd, lines: make(chan string, 100000), done: make(chan struct{})}
	t.Cleanup(func() {
		select {
		case <-v.done:
		default:
			cmd.Process.Kill()
			<-v.done
		}
	})
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := strings.TrimRight(sc.Text(), "\r")
			v.mu.Lock()
			v.log.WriteString(line + "\n")
			v.mu.Unlock()
			if i := strings.Index(line, "PC "); i >= 0 {
				v.lines <- line[i:]
			}
		}
		io.Copy(io.Discard, stdout)
		cmd.Wait()
		close(v.lines)
		close(v.done)
	}()
	return v, nil
}

// next returns the next "PC …" line, or "" when the guest is gone or the
// deadline passed.
func (v *vm) next(ctx context.Context) string {
	select {
	case l, ok := <-v.lines:
		if !ok {
			return ""
		}
		return l
	case <-ctx.Done():
		return ""
	}
}

// cut pulls the plug: SIGKILL, nothing of QEMU's runs after it.
func (v *vm) cut() {
	v.cmd.Process.Kill()
	<-v.done
	if d := os.Getenv("POWERCUT_CONSOLE"); d != "" {
		os.MkdirAll(d, 0o755)
		v.mu.Lock()
		os.WriteFile(filepath.Join(d, fmt.Sprintf("console-%d.log", v.cmd.Process.Pid)), v.log.Bytes(), 0o644)
		v.mu.Unlock()
	}
}

func (v *vm) wait(timeout time.Duration) bool {
	select {
	case <-v.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

func (v *vm) console(n int) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	lines := strings.Split(strings.TrimRight(v.log.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
