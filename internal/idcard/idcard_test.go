package idcard

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode"
)

// pinToday fixes "today" for one test, so that the future-date cases do not
// depend on when the tests run.
func pinToday(t *testing.T, today time.Time) {
	t.Helper()
	old := now
	now = func() time.Time { return today }
	t.Cleanup(func() { now = old })
}

func date(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func TestCheckChar(t *testing.T) {
	tests := []struct {
		name     string
		first17  string
		want     byte
		wantCode string
	}{
		{name: "GB 11643 example, X", first17: "11010519491231002", want: 'X'},
		{name: "GB 11643 example, digit", first17: "44052418800101001", want: '4'},
		{name: "all zeros", first17: "00000000000000000", want: '1'},
		{name: "too short", first17: "1101051949123100", wantCode: CodeLength},
		{name: "too long", first17: "110105194912310020", wantCode: CodeLength},
		{name: "letter", first17: "1101051949123100A", wantCode: CodeChars},
		{name: "full-width digit is not normalised", first17: "1101051949123100２", wantCode: CodeChars},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CheckChar(tt.first17)
			if tt.wantCode != "" {
				var e *Error
				if !errors.As(err, &e) || e.Code != tt.wantCode {
					t.Fatalf("CheckChar(%q) error = %v, want code %q", tt.first17, err, tt.wantCode)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("CheckChar(%q) = %q, %v; want %q", tt.first17, got, err, tt.want)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "already normal", in: "11010519491231002X", want: "11010519491231002X"},
		{name: "lower-case x", in: "11010519491231002x", want: "11010519491231002X"},
		{name: "spaces and tabs", in: " \t11010519491231002X\n", want: "11010519491231002X"},
		{name: "ideographic space", in: "\u300011010519491231002X\u3000", want: "11010519491231002X"},
		{name: "zero-width from paste", in: "\ufeff11010519491231002X\u200b", want: "11010519491231002X"},
		{name: "full-width digits and x", in: "１１０１０５１９４９１２３１００２ｘ", want: "11010519491231002X"},
		{name: "groups of a card", in: "110105 19491231 002X", want: "11010519491231002X"},
		{name: "dashes", in: "110105-19491231-002x", want: "11010519491231002X"},
		{name: "full-width space and dash", in: "１１０１０５\u3000１９４９１２３１－００２Ｘ", want: "11010519491231002X"},
		{name: "tab and zero-width inside", in: "110105\t1949\u200b1231002X", want: "11010519491231002X"},
		{name: "other letters kept", in: "abc", want: "abc"},
		{name: "empty", in: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Normalize(tt.in); got != tt.want {
				t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	pinToday(t, time.Date(2026, 3, 15, 1, 0, 0, 0, china)) // 2026-03-14 17:00 UTC
	tests := []struct {
		name     string
		in       string
		wantCode string // "" means valid
	}{
		{name: "GB 11643 example with X", in: "11010519491231002X"},
		{name: "lower-case x accepted", in: "11010519491231002x"},
		{name: "surrounding spaces accepted", in: "  11010519491231002X "},
		{name: "full-width input accepted", in: "１１０１０５１９４９１２３１００２Ｘ"},
		{name: "generated man", in: Generate("340123", date(1990, 1, 1), 123)},
		{name: "generated woman", in: Generate("341621", date(1958, 7, 30), 44)},
		{name: "generated child", in: Generate("340121", date(2016, 2, 29), 1)},
		{name: "first valid day", in: Generate("340123", date(1900, 1, 1), 0)},
		{name: "born today in China though still yesterday in UTC", in: Generate("340123", date(2026, 3, 15), 2)},

		{name: "empty", in: "", wantCode: CodeLength},
		{name: "only spaces", in: "   ", wantCode: CodeLength},
		{name: "17 digits", in: "11010519491231002", wantCode: CodeLength},
		{name: "19 characters", in: "11010519491231002X1", wantCode: CodeLength},
		{name: "old 15-digit number", in: "110105491231002", wantCode: CodeLength},
		{name: "letter in the middle", in: "1101051949123I002X", wantCode: CodeChars},
		{name: "X not last", in: "1101051949X231002X", wantCode: CodeChars},
		{name: "inner space", in: "110105 9491231002X", wantCode: CodeLength},
		{name: "typed in groups", in: "110105 19491231 002X"},
		{name: "inner dot", in: "110105.9491231002X", wantCode: CodeChars},
		{name: "Chinese character", in: "11010519491231002号", wantCode: CodeChars},
		{name: "hyphens do not count", in: "110105-19491231-02", wantCode: CodeLength},
		{name: "month 13", in: "110105194913310026", wantCode: CodeBirthDate},
		{name: "February 30", in: Generate("110105", date(1949, 1, 1), 2)[:10] + "0230" + "002X", wantCode: CodeBirthDate},
		{name: "1900 was not a leap year", in: fixCheck("110105" + "19000229" + "002"), wantCode: CodeBirthDate},
		{name: "1899-12-31, GB example 1880", in: "440524188001010014", wantCode: CodeBirthDate},
		{name: "day before 1900", in: fixCheck("340123" + "18991231" + "123"), wantCode: CodeBirthDate},
		{name: "tomorrow", in: Generate("340123", date(2026, 3, 16), 2), wantCode: CodeBirthDate},
		{name: "year 2099", in: Generate("340123", date(2099, 1, 1), 2), wantCode: CodeBirthDate},
		{name: "wrong check digit", in: "110105194912310021", wantCode: CodeChecksum},
		{name: "X where a digit belongs", in: "44052419800101001X", wantCode: CodeChecksum},
		{name: "two digits swapped", in: "11010519491231020X", wantCode: CodeChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.in)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("Validate(%q) = %v, want nil", tt.in, err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Validate(%q) = %v, want *Error with code %q", tt.in, err, tt.wantCode)
			}
			if e.Code != tt.wantCode {
				t.Fatalf("Validate(%q) code = %q (%s), want %q", tt.in, e.Code, e.Message, tt.wantCode)
			}
			if !hasHan(e.Message) || !strings.HasPrefix(e.Message, "身份证号码") || e.Error() != e.Message {
				t.Errorf("message %q should be a Chinese sentence about 身份证号码 and equal Error()", e.Message)
			}
		})
	}
}

// fixCheck appends the right check character, so that a test can reach the
// birth-date check with an impossible date.
func fixCheck(first17 string) string {
	c, err := CheckChar(first17)
	if err != nil {
		panic(err)
	}
	return first17 + string(c)
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

func TestMessagesNamePosition(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "length counts characters", in: "1101051949", want: "现在是10位"},
		{name: "length counts Chinese characters as one", in: "一二三", want: "现在是3位"},
		{name: "chars names the position", in: "1101O519491231002X", want: "第5位"},
		{name: "chars names last position", in: "11010519491231002Y", want: "第18位"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate(%q) = %v, want message containing %q", tt.in, err, tt.want)
			}
		})
	}
}

// MOD 11-2 is chosen by the standard because it catches every single
// mistyped digit and every swap of two neighbours; check that we kept that
// property, since it is what makes the checksum error trustworthy.
func TestDetectsSingleTypos(t *testing.T) {
	valid := []string{"11010519491231002X", Generate("340123", date(1990, 1, 1), 123), Generate("341502", date(1945, 12, 9), 998)}
	for _, v := range valid {
		for i := 0; i < 17; i++ {
			for d := byte('0'); d <= '9'; d++ {
				if d == v[i] {
					continue
				}
				typo := v[:i] + string(d) + v[i+1:]
				if Validate(typo) == nil {
					t.Errorf("typo %q of %q at position %d accepted", typo, v, i+1)
				}
			}
			if i < 16 && v[i] != v[i+1] {
				swap := v[:i] + string(v[i+1]) + string(v[i]) + v[i+2:]
				if Validate(swap) == nil {
					t.Errorf("swap %q of %q at position %d accepted", swap, v, i+1)
				}
			}
		}
	}
}

func TestBirthDateAndSex(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantBirth time.Time
		wantSex   string
		wantErr   bool
	}{
		{name: "GB example woman", in: "11010519491231002X", wantBirth: date(1949, 12, 31), wantSex: "女"},
		{name: "lower-case x", in: "11010519491231002x", wantBirth: date(1949, 12, 31), wantSex: "女"},
		{name: "generated man", in: Generate("340123", date(1990, 1, 1), 123), wantBirth: date(1990, 1, 1), wantSex: "男"},
		{name: "seq 0 is a woman", in: Generate("340123", date(2012, 6, 1), 0), wantBirth: date(2012, 6, 1), wantSex: "女"},
		{name: "seq 999 is a man", in: Generate("340123", date(1936, 2, 29), 999), wantBirth: date(1936, 2, 29), wantSex: "男"},
		{name: "wrong check digit refused", in: "110105194912310021", wantErr: true},
		{name: "garbage refused", in: "abc", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			birth, err := BirthDate(tt.in)
			sex, err2 := Sex(tt.in)
			if tt.wantErr {
				if err == nil || err2 == nil {
					t.Fatalf("BirthDate/Sex(%q) errors = %v, %v; want both non-nil", tt.in, err, err2)
				}
				return
			}
			if err != nil || !birth.Equal(tt.wantBirth) || birth.Location() != time.UTC {
				t.Errorf("BirthDate(%q) = %v, %v; want %v UTC", tt.in, birth, err, tt.wantBirth)
			}
			if err2 != nil || sex != tt.wantSex {
				t.Errorf("Sex(%q) = %q, %v; want %q", tt.in, sex, err2, tt.wantSex)
			}
		})
	}
}

func TestMask(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "18 digits", in: "340123199001011234", want: "340123********1234"},
		{name: "ends in X", in: "11010519491231002X", want: "110105********002X"},
		{name: "lower-case x and spaces normalised", in: " 11010519491231002x ", want: "110105********002X"},
		{name: "empty stays empty", in: "", want: ""},
		{name: "one character", in: "3", want: "*"},
		{name: "three characters", in: "340", want: "3**"},
		{name: "four characters", in: "3401", want: "3**1"},
		{name: "ten characters", in: "3401231990", want: "340*****90"},
		{name: "old 15-digit number", in: "340123900101123", want: "34012*******123"},
		{name: "17 digits", in: "34012319900101123", want: "34012********1123"},
		{name: "too long keeps 6 and 4", in: "3401231990010112345", want: "340123*********2345"},
		{name: "Chinese text is masked by character", in: "张三李四王五", want: "张三***五"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Mask(tt.in); got != tt.want {
				t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestMaskPhone(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "mobile", in: "13812345678", want: "138****5678"},
		{name: "mobile with spaces around", in: " 19955501234\t", want: "199****1234"},
		{name: "empty", in: "", want: ""},
		{name: "landline 8 digits", in: "65123456", want: "65****56"},
		{name: "landline with area code", in: "0551-65123456", want: "055********56"},
		{name: "11 digits not a mobile", in: "05516512345", want: "055******45"},
		{name: "12 digits", in: "138123456789", want: "138*******89"},
		{name: "short", in: "110", want: "1**"},
		{name: "two characters", in: "12", want: "**"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MaskPhone(tt.in); got != tt.want {
				t.Errorf("MaskPhone(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// Masking must never reveal more than the 6+4 (ID) or 3+4 (mobile)
// characters of a well-formed number, whatever the input length.
func TestMaskNeverRevealsMore(t *testing.T) {
	for n := 0; n <= 40; n++ {
		s := strings.Repeat("7", n)
		for _, m := range []struct {
			name    string
			f       func(string) string
			maxShow int
		}{{"Mask", Mask, 10}, {"MaskPhone", MaskPhone, 7}} {
			got := m.f(s)
			if len([]rune(got)) != n {
				t.Errorf("%s of %d chars has length %d", m.name, n, len([]rune(got)))
			}
			shown := n - strings.Count(got, "*")
			// Outside the 11-digit mobile form, at most a third plus a
			// quarter of the input is shown.
			if shown > m.maxShow || (shown*12 > n*7 && !(m.name == "MaskPhone" && n == 11)) {
				t.Errorf("%s(%q) = %q shows %d of %d characters", m.name, s, got, shown, n)
			}
		}
	}
}

func TestGenerate(t *testing.T) {
	pinToday(t, time.Date(2026, 1, 1, 12, 0, 0, 0, china))
	count := 0
	for y := 1900; y <= 2025; y += 7 {
		for _, md := range [][2]int{{1, 1}, {2, 28}, {6, 15}, {12, 31}} {
			for seq := 0; seq <= 999; seq += 37 {
				birth := date(y, time.Month(md[0]), md[1])
				s := Generate("340123", birth, seq)
				if err := Validate(s); err != nil {
					t.Fatalf("Generate(%v, %d) = %q: %v", birth, seq, s, err)
				}
				if got, _ := BirthDate(s); !got.Equal(birth) {
					t.Fatalf("BirthDate(%q) = %v, want %v", s, got, birth)
				}
				wantSex := map[bool]string{true: "男", false: "女"}[seq%2 == 1]
				if got, _ := Sex(s); got != wantSex {
					t.Fatalf("Sex(%q) = %q, want %q", s, got, wantSex)
				}
				if s[17] == 'X' {
					count++
				}
			}
		}
	}
	if count == 0 {
		t.Error("no generated number ended in X; the X path is untested")
	}
}

func TestGeneratePanics(t *testing.T) {
	tests := []struct {
		name string
		area string
		seq  int
	}{
		{name: "short area", area: "34012", seq: 1},
		{name: "letters in area", area: "34012a", seq: 1},
		{name: "negative seq", area: "340123", seq: -1},
		{name: "seq too big", area: "340123", seq: 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Generate(%q, _, %d) did not panic", tt.area, tt.seq)
				}
			}()
			Generate(tt.area, date(1990, 1, 1), tt.seq)
		})
	}
}

func FuzzValidate(f *testing.F) {
	for _, s := range []string{
		"11010519491231002X", "11010519491231002x", " 11010519491231002X ", "440524188001010014",
		"", "X", "340123199001011234", "１１０１０５１９４９１２３１００２ｘ", "34012319900230123X",
		"\xff\xfe", "11010519491231002\u3000", "\u200b11010519491231002X",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := Validate(s)
		_ = Mask(s)
		_ = MaskPhone(s)
		n := Normalize(s)
		if Normalize(n) != n {
			t.Fatalf("Normalize is not idempotent: %q -> %q -> %q", s, n, Normalize(n))
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Validate(%q) returned %T, want *Error", s, err)
			}
			switch e.Code {
			case CodeLength, CodeChars, CodeBirthDate, CodeChecksum:
			default:
				t.Fatalf("Validate(%q) returned unknown code %q", s, e.Code)
			}
			if e.Message == "" {
				t.Fatalf("Validate(%q) returned an empty message", s)
			}
			if _, err := BirthDate(s); err == nil {
				t.Fatalf("BirthDate(%q) succeeded though Validate failed", s)
			}
			return
		}
		if len(n) != Length {
			t.Fatalf("valid %q normalises to %q of length %d", s, n, len(n))
		}
		c, cerr := CheckChar(n[:17])
		if cerr != nil || c != n[17] {
			t.Fatalf("valid %q: CheckChar = %q, %v; last char %q", s, c, cerr, n[17])
		}
		birth, berr := BirthDate(s)
		sex, serr := Sex(s)
		if berr != nil || serr != nil || (sex != "男" && sex != "女") {
			t.Fatalf("valid %q: BirthDate/Sex failed: %v %v %q", s, berr, serr, sex)
		}
		if again := Generate(n[:6], birth, int(n[14]-'0')*100+int(n[15]-'0')*10+int(n[16]-'0')); again != n {
			t.Fatalf("valid %q: Generate from its parts gives %q", n, again)
		}
		if m := Mask(s); m != n[:6]+"********"+n[14:] {
			t.Fatalf("Mask(%q) = %q", s, m)
		}
	})
}

func ExampleValidate() {
	err := Validate("110105194912310021")
	var e *Error
	if errors.As(err, &e) {
		fmt.Println(e.Code, e.Message)
	}
	fmt.Println(Validate(" 11010519491231002x "))
	// Output:
	// checksum 身份证号码校验位不正确，请对照证件逐位核对，特别是最后一位
	// <nil>
}

func ExampleMask() {
	fmt.Println(Mask("340123199001011234"))
	fmt.Println(MaskPhone("13812345678"))
	// Output:
	// 340123********1234
	// 138****5678
}
