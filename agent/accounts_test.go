package agent

import (
	"context"
	"errors"
	"testing"

	"stationsync/internal/records"
)

// A new PIN is refused in the same words wherever it is set — the pages,
// the command line, the store itself — each saying what a PIN may be.
func TestCheckPINFormat(t *testing.T) {
	const rule = "密码只能是 6 到 12 位数字（0–9），不能有字母、空格或符号"
	for _, tc := range []struct{ pin, want string }{
		{"246810", ""},
		{"123456789012", ""},
		{"abc123", rule},
		{"12 3456", rule},
		{"12345a", rule},
		{"12345", "密码应为 6 到 12 位数字，现在是 5 位"},
		{"", "密码应为 6 到 12 位数字，现在是 0 位"},
		{"1234567890123", "密码应为 6 到 12 位数字，现在是 13 位"},
	} {
		if got := CheckPINFormat(tc.pin); got != tc.want {
			t.Errorf("CheckPINFormat(%q) = %q, want %q", tc.pin, got, tc.want)
		}
	}

	s := openTestStore(t)
	ctx := context.Background()
	var fe *records.FieldError
	if _, err := s.CreateAccount(ctx, "李明", "abc123", ""); !errors.As(err, &fe) || fe.Field != "pin" || fe.Message != rule {
		t.Fatalf("CreateAccount with letters: %v", err)
	}
	acc, err := s.CreateAccount(ctx, "李明", "246810", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPIN(ctx, acc.ID, "12345"); !errors.As(err, &fe) || fe.Message != "密码应为 6 到 12 位数字，现在是 5 位" {
		t.Fatalf("SetPIN with 5 digits: %v", err)
	}
}
