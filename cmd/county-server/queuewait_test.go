package main

import (
	"testing"
	"time"
)

// --queue-wait's default comes from $STATIONSYNC_QUEUE_WAIT when that is
// a positive duration, else the server's own 2 s: a typo in a drop-in must
// not turn the wait off.
func TestQueueWaitDefault(t *testing.T) {
	for env, want := range map[string]time.Duration{"": 2 * time.Second, "1s": time.Second, "750ms": 750 * time.Millisecond,
		"0": 2 * time.Second, "-1s": 2 * time.Second, "一秒": 2 * time.Second, "5": 2 * time.Second} {
		t.Setenv(envQueueWait, env)
		if got := queueWaitDefault(); got != want {
			t.Errorf("%s=%q: %v, want %v", envQueueWait, env, got, want)
		}
	}
}
