package records

import (
	"fmt"
	"strconv"
)

// Yuan shows an amount kept in fen (every *_fen field) as people read it:
// "1200 元", "1234.50 元", "-3.05 元".
func Yuan(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	if fen%100 == 0 {
		return sign + strconv.FormatInt(fen/100, 10) + " 元"
	}
	return fmt.Sprintf("%s%d.%02d 元", sign, fen/100, fen%100)
}
