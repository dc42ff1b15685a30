package bytesize

import "testing"

func TestText(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 字节", 1023: "1023 字节", 1024: "1 KB", 38 << 10: "38 KB", 1<<20 - 1: "1024 KB",
		1 << 20: "1 MB", 20 << 20: "20 MB", 1468006: "1.4 MB",
	} {
		if got := Text(n); got != want {
			t.Errorf("Text(%d) = %q, want %q", n, got, want)
		}
	}
}
