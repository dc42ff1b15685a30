package installer

import (
	"fmt"
	"io"
)

// Check is one line of a doctor's answer: what was checked and a plain
// answer in Chinese that says what to do when it is not OK.
type Check struct {
	Name   string
	OK     bool
	Warn   bool // OK, but worth a look
	Answer string
}

// Report prints checks, one line each (✔ ok, ! worth a look, ✘ to fix),
// and a last line, and returns the exit code: 1 if any check failed.
func Report(w io.Writer, checks []Check) int {
	failed := 0
	for _, c := range checks {
		mark := "✔"
		switch {
		case !c.OK:
			mark = "✘"
			failed++
		case c.Warn:
			mark = "!"
		}
		fmt.Fprintf(w, "%s %s：%s\n", mark, c.Name, c.Answer)
	}
	if failed > 0 {
		fmt.Fprintf(w, "%d 项需要处理。\n", failed)
		return 1
	}
	fmt.Fprintln(w, "一切正常。")
	return 0
}

// DiskCheck answers how much room the data folder has: below failMB a
// save may fail, below warnMB it is worth a look.
func DiskCheck(dir string, failMB, warnMB uint64) Check {
	free, err := DiskFree(dir)
	if err != nil {
		return Check{Name: "磁盘空间", Answer: "无法读取：" + err.Error()}
	}
	mb := free >> 20
	c := Check{Name: "磁盘空间", OK: mb >= failMB, Warn: mb < warnMB, Answer: fmt.Sprintf("剩余 %d MB", mb)}
	if mb < failMB {
		c.Answer += "，太少：新记录可能无法保存，请清理磁盘"
	} else if mb < warnMB {
		c.Answer += "，偏少"
	}
	return c
}
