package decimal

import "testing"

func TestParseUint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want uint64
		err  error
	}{
		{"0", 0, nil}, {"18446744073709551615", 1<<64 - 1, nil}, {"18446744073709551616", 0, ErrRange},
		{"99999999999999999999", 0, ErrRange}, {"", 0, ErrSyntax}, {"-1", 0, ErrSyntax}, {"1 ", 0, ErrSyntax}, {"\xff", 0, ErrSyntax},
	}
	for _, tt := range tests {
		got, err := ParseUint([]byte(tt.in))
		if got != tt.want || err != tt.err {
			t.Errorf("ParseUint(%q) = %d, %v, want %d, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestParseInt(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"-9223372036854775808": -1 << 63, "9223372036854775807": 1<<63 - 1, "-1": -1, "0": 0} {
		if got, err := ParseInt([]byte(in)); got != want || err != nil {
			t.Errorf("ParseInt(%q) = %d, %v, want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"9223372036854775808", "-9223372036854775809", "-", "--1", ""} {
		if _, err := ParseInt([]byte(in)); err == nil {
			t.Errorf("ParseInt(%q) = nil error, want one", in)
		}
	}
}

func TestTrimSpace(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{" \t1 2\n": "1 2", "": "", "\n\n": "", "x": "x"} {
		if got := string(TrimSpace([]byte(in))); got != want {
			t.Errorf("TrimSpace(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseUint(f *testing.F) {
	f.Add([]byte("18446744073709551615"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseUint(b)
		if err == nil && len(b) > 20 && b[0] != '0' {
			t.Fatalf("ParseUint(%q) = %d: more than 20 digits accepted", b, v)
		}
	})
}
