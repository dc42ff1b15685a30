//go:build unix

package photo

import (
	"runtime"
	"runtime/metrics"
	"syscall"
	"time"
)

// cpuTime is the CPU time this process has used, all threads: on a loaded
// two-core machine the wall time of a benchmark says little.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakHeap runs fn and returns the most heap its objects held above what
// was live before, sampled every half millisecond.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	base := s[0].Value.Uint64()
	done := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		var m uint64
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			metrics.Read(s)
			m = max(m, s[0].Value.Uint64())
			select {
			case <-done:
				peak <- m
				return
			case <-time.After(500 * time.Microsecond):
			}
		}
	}()
	fn()
	close(done)
	p := <-peak
	if p < base {
		return 0
	}
	return p - base
}
