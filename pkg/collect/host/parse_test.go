package host

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestParseUint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want uint64
		err  error
	}{
		{"0", 0, nil},
		{"007", 7, nil},
		{"18446744073709551615", 1<<64 - 1, nil},
		{"18446744073709551616", 0, ErrRange},
		{"99999999999999999999", 0, ErrRange},
		{"184467440737095516150", 0, ErrRange},
		{"99999999999999999999x", 0, ErrSyntax},
		{"", 0, ErrSyntax},
		{"+1", 0, ErrSyntax},
		{"-1", 0, ErrSyntax},
		{" 1", 0, ErrSyntax},
		{"1 ", 0, ErrSyntax},
		{"0x10", 0, ErrSyntax},
		{"１", 0, ErrSyntax}, // fullwidth digit one
		{"\xff", 0, ErrSyntax},
	}
	for _, tt := range tests {
		got, err := parseUint([]byte(tt.in))
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("parseUint(%q) = %d, %v, want %d, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func FuzzParseUint(f *testing.F) {
	for _, s := range []string{"0", "18446744073709551615", "18446744073709551616", "+1", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := parseUint(in)
		want, werr := strconv.ParseUint(string(in), 10, 64)
		switch {
		case werr == nil && (err != nil || got != want):
			t.Fatalf("parseUint(%q) = %d, %v, want %d", in, got, err, want)
		case werr != nil && err == nil:
			t.Fatalf("parseUint(%q) = %d, want error %v", in, got, werr)
		case err != nil && allDigits(in) && errors.Is(werr, strconv.ErrRange) != errors.Is(err, ErrRange):
			// strconv calls "20000000000000000000A" out of range; we call any
			// non-digit a syntax error, so compare kinds on digits only.
			t.Fatalf("parseUint(%q) error = %v, strconv says %v", in, err, werr)
		}
	})
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func TestParseFixed(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"0", "0.00", "0.28", "201.30", "338.23", "1.", ".5", "99.99",
		"31536000.99", "0.1", "0.30000000000000004", "123456789012345678901234567890.5",
		"9007199254740993", "0.0000000000000000000000001", "17976931348623157", "1" + strings.Repeat("0", 300)} {
		got, err := parseFixed([]byte(in))
		want, werr := strconv.ParseFloat(in, 64)
		if err != nil || werr != nil || got != want {
			t.Errorf("parseFixed(%q) = %v, %v, want %v, %v", in, got, err, want, werr)
		}
	}
	for _, in := range []string{"", ".", "1..2", "1.2.3", "-1", "+1", "1e3", "inf", "NaN", "0x1p3", "1_0", " 1", "\xff", strings.Repeat("9", 400)} {
		if got, err := parseFixed([]byte(in)); err == nil {
			t.Errorf("parseFixed(%q) = %v, want error", in, got)
		}
	}
}

func FuzzParseFixed(f *testing.F) {
	for _, s := range []string{"0.28", "201.30", "1.", ".5", "9007199254740993.5", "1" + strings.Repeat("0", 400)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := parseFixed(in)
		if err != nil {
			return
		}
		want, werr := strconv.ParseFloat(string(in), 64)
		if werr != nil || got != want {
			t.Fatalf("parseFixed(%q) = %v, want %v, %v", in, got, want, werr)
		}
	})
}
