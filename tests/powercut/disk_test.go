package powercut

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// sector is the unit the crash disk writes atomically: the 4 KiB physical
// sector of a modern disk (and ext4's block). A write that spans several
// sectors may be kept in part.
const sector = 4096

// crashDisk is the guest's data disk, served over NBD (the network block
// device protocol QEMU speaks natively). It behaves like a disk with a
// volatile write cache and no battery:
//
//   - a write is acknowledged at once and held in the cache (pending);
//   - reads see the newest data, cached or not;
//   - FLUSH makes every write acknowledged before it durable, and a write
//     with FUA is durable when acknowledged;
//   - powerCut keeps a random subset of the cached writes, in any order,
//     and loses the rest, as a disk does that reorders its cache.
//
// Whatever the guest did not flush may therefore be gone after a cut, and
// nothing it flushed ever is: exactly the contract fsync relies on.
type crashDisk struct {
	mu      sync.Mutex
	durable []byte           // what the platters hold
	pending []pendingWrite   // acknowledged, not yet flushed, oldest first
	cache   map[int64][]byte // newest cached content of a sector
	stats   struct{ writes, flushes, fua, kept, dropped int }
	// keepNone makes every cut lose the whole cache (the negative
	// control); otherwise each cut keeps a random share.
	keepNone bool
}

type pendingWrite struct {
	sector int64
	data   []byte
}

func newCrashDisk(image []byte) *crashDisk {
	if len(image)%sector != 0 {
		panic("crash disk image is not a whole number of sectors")
	}
	return &crashDisk{durable: image, cache: map[int64][]byte{}}
}

func (d *crashDisk) size() int64 { return int64(len(d.durable)) }

// readAt reads from the newest content, cached or durable.
func (d *crashDisk) readAt(p []byte, off int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(p) > 0 {
		s := off / sector
		in := off % sector
		n := copy(p, d.sectorLocked(s)[in:])
		p, off = p[n:], off+int64(n)
	}
}

// sectorLocked is the newest content of sector s (not a copy).
func (d *crashDisk) sectorLocked(s int64) []byte {
	if c, ok := d.cache[s]; ok {
		return c
	}
	return d.durable[s*sector : (s+1)*sector]
}

// writeAt caches a write, sector by sector; fua makes it durable at once.
func (d *crashDisk) writeAt(p []byte, off int64, fua bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stats.writes++
	for len(p) > 0 {
		s := off / sector
		in := off % sector
		buf := make([]byte, sector)
		copy(buf, d.sectorLocked(s))
		n := copy(buf[in:], p)
		p, off = p[n:], off+int64(n)
		if fua {
			// FUA: this sector reaches the platters now. A cached older
			// write of it must not land later and undo it.
			d.dropCachedLocked(s)
			copy(d.durable[s*sector:], buf)
			continue
		}
		d.pending = append(d.pending, pendingWrite{s, buf})
		d.cache[s] = buf
	}
	if fua {
		d.stats.fua++
	}
}

func (d *crashDisk) dropCachedLocked(s int64) {
	if _, ok := d.cache[s]; !ok {
		return
	}
	delete(d.cache, s)
	kept := d.pending[:0]
	for _, w := range d.pending {
		if w.sector != s {
			kept = append(kept, w)
		}
	}
	d.pending = kept
}

// waitCached waits until the cache holds a write, at most timeout, so
// that a cut can fall where it matters: between a write and its flush.
func (d *crashDisk) waitCached(timeout time.Duration) bool {
	end := time.Now().Add(timeout)
	for time.Now().Before(end) {
		d.mu.Lock()
		n := len(d.pending)
		d.mu.Unlock()
		if n > 0 {
			return true
		}
		time.Sleep(200 * time.Microsecond)
	}
	return false
}

// flush makes every cached write durable.
func (d *crashDisk) flush() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stats.flushes++
	for _, w := range d.pending {
		copy(d.durable[w.sector*sector:], w.data)
	}
	d.pending = d.pending[:0]
	clear(d.cache)
}

// powerCut loses the cache: each cached write reaches the platters with
// probability keep (drawn per cut, so some cuts lose everything and some
// almost nothing), in a shuffled order. It returns how many sector writes
// were kept and how many lost.
func (d *crashDisk) powerCut(rng *rand.Rand) (kept, lost int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	keep := []float64{0, 0.25, 0.5, 0.9, 1}[rng.IntN(5)]
	if d.keepNone {
		keep = 0
	}
	order := rng.Perm(len(d.pending))
	for _, i := range order {
		w := d.pending[i]
		if rng.Float64() < keep {
			copy(d.durable[w.sector*sector:], w.data)
			kept++
		} else {
			lost++
		}
	}
	d.pending = d.pending[:0]
	clear(d.cache)
	d.stats.kept += kept
	d.stats.dropped += lost
	return kept, lost
}

// The NBD protocol, fixed newstyle handshake, simple replies
// (https://github.com/NetworkBlockDevice/nbd/blob/master/doc/proto.md).
const (
	nbdMagic        = 0x4e42444d41474943 // "NBDMAGIC"
	nbdOptMagic     = 0x49484156454f5054 // "IHAVEOPT"
	nbdRepMagic     = 0x0003e889045565a9
	nbdReqMagic     = 0x25609513
	nbdSimpleReply  = 0x67446698
	nbdFlagFixedNew = 1 << 0
	nbdFlagNoZeroes = 1 << 1

	nbdOptExportName = 1
	nbdOptAbort      = 2
	nbdOptGo         = 7
	nbdOptInfo       = 6

	nbdRepAck       = 1
	nbdRepInfo      = 3
	nbdRepErrUnsup  = 1<<31 + 1
	nbdInfoExport   = 0
	nbdTransHasFlag = 1 << 0
	nbdTransFlush   = 1 << 2
	nbdTransFUA     = 1 << 3

	nbdCmdRead    = 0
	nbdCmdWrite   = 1
	nbdCmdDisc    = 2
	nbdCmdFlush   = 3
	nbdCmdFlagFUA = 1 << 0

	nbdEINVAL = 22
)

// serveNBD serves the disk to one client until it disconnects or the
// connection breaks (QEMU killed). Requests are handled one at a time, in
// the order they arrive: a FLUSH therefore covers every write before it.
func (d *crashDisk) serveNBD(conn net.Conn) error {
	defer conn.Close()
	r := bufio.NewReaderSize(conn, 1<<20)
	w := bufio.NewWriterSize(conn, 1<<20)
	be := binary.BigEndian
	transFlags := uint16(nbdTransHasFlag | nbdTransFlush | nbdTransFUA)

	var hs [18]byte
	be.PutUint64(hs[0:], nbdMagic)
	be.PutUint64(hs[8:], nbdOptMagic)
	be.PutUint16(hs[16:], nbdFlagFixedNew|nbdFlagNoZeroes)
	if _, err := w.Write(hs[:]); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	var clientFlags [4]byte
	if _, err := io.ReadFull(r, clientFlags[:]); err != nil {
		return fmt.Errorf("nbd client flags: %w", err)
	}
	noZeroes := be.Uint32(clientFlags[:])&nbdFlagNoZeroes != 0

	reply := func(opt, typ uint32, data []byte) error {
		var h [20]byte
		be.PutUint64(h[0:], nbdRepMagic)
		be.PutUint32(h[8:], opt)
		be.PutUint32(h[12:], typ)
		be.PutUint32(h[16:], uint32(len(data)))
		w.Write(h[:])
		w.Write(data)
		return w.Flush()
	}
	// Options until the client starts transmission.
	for {
		var h [16]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return fmt.Errorf("nbd option: %w", err)
		}
		if be.Uint64(h[0:]) != nbdOptMagic {
			return errors.New("nbd option: bad magic")
		}
		opt, n := be.Uint32(h[8:]), be.Uint32(h[12:])
		if n > 1<<16 {
			return errors.New("nbd option: too long")
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(r, data); err != nil {
			return err
		}
		switch opt {
		case nbdOptExportName:
			var a [10]byte
			be.PutUint64(a[0:], uint64(d.size()))
			be.PutUint16(a[8:], transFlags)
			w.Write(a[:])
			if !noZeroes {
				w.Write(make([]byte, 124))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			return d.transmit(r, w)
		case nbdOptGo, nbdOptInfo:
			var info [12]byte
			be.PutUint16(info[0:], nbdInfoExport)
			be.PutUint64(info[2:], uint64(d.size()))
			be.PutUint16(info[10:], transFlags)
			if err := reply(opt, nbdRepInfo, info[:]); err != nil {
				return err
			}
			if err := reply(opt, nbdRepAck, nil); err != nil {
				return err
			}
			if opt == nbdOptGo {
				return d.transmit(r, w)
			}
		case nbdOptAbort:
			reply(opt, nbdRepAck, nil)
			return nil
		default: // structured replies, meta contexts, lists: not offered
			if err := reply(opt, nbdRepErrUnsup, nil); err != nil {
				return err
			}
		}
	}
}

func (d *crashDisk) transmit(r *bufio.Reader, w *bufio.Writer) error {
	be := binary.BigEndian
	var buf []byte
	for {
		var h [28]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return err // QEMU gone: the power is off
		}
		if be.Uint32(h[0:]) != nbdReqMagic {
			return errors.New("nbd request: bad magic")
		}
		flags, typ := be.Uint16(h[4:]), be.Uint16(h[6:])
		handle, off, n := be.Uint64(h[8:]), int64(be.Uint64(h[16:])), int64(be.Uint32(h[24:]))
		var errno uint32
		var payload []byte
		if typ == nbdCmdRead || typ == nbdCmdWrite {
			if off < 0 || n > 64<<20 || off+n > d.size() {
				errno = nbdEINVAL
			}
			if int64(cap(buf)) < n {
				buf = make([]byte, n)
			}
			buf = buf[:n]
		}
		switch typ {
		case nbdCmdRead:
			if errno == 0 {
				d.readAt(buf, off)
				payload = buf
			}
		case nbdCmdWrite:
			if _, err := io.ReadFull(r, buf); err != nil {
				return err // the write never completed: it is not acknowledged
			}
			if errno == 0 {
				d.writeAt(buf, off, flags&nbdCmdFlagFUA != 0)
			}
		case nbdCmdFlush:
			d.flush()
		case nbdCmdDisc:
			return nil
		default:
			errno = nbdEINVAL
		}
		var rh [16]byte
		be.PutUint32(rh[0:], nbdSimpleReply)
		be.PutUint32(rh[4:], errno)
		be.PutUint64(rh[8:], handle)
		w.Write(rh[:])
		if payload != nil {
			w.Write(payload)
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
}

// The crash disk's contract, without a guest: what was flushed or written
// with FUA survives any cut, what was not is lost when the cut keeps
// nothing, and reads before the cut see the newest data.
func TestCrashDiskLosesOnlyUnflushedWrites(t *testing.T) {
	d := newCrashDisk(make([]byte, 4*sector))
	d.keepNone = true
	at := func(s int64) byte {
		b := make([]byte, 1)
		d.readAt(b, s*sector+100)
		return b[0]
	}
	d.writeAt([]byte{1}, 0*sector+100, false)
	d.flush()
	d.writeAt([]byte{2}, 1*sector+100, true) // FUA
	d.writeAt([]byte{3}, 2*sector+100, false)
	d.writeAt([]byte{9}, 0*sector+100, false) // overwrites flushed data, unflushed
	if at(0) != 9 || at(2) != 3 {
		t.Fatalf("reads before the cut: %d %d, want the newest 9 3", at(0), at(2))
	}
	d.powerCut(rand.New(rand.NewPCG(1, 2)))
	if at(0) != 1 || at(1) != 2 || at(2) != 0 {
		t.Fatalf("after the cut: %d %d %d, want flushed 1, FUA 2, unflushed gone 0", at(0), at(1), at(2))
	}
}
