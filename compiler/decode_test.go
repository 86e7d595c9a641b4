package compiler_test

import (
	"testing"

	"github.com/flowrun/flowrun/compiler"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		err  string
	}{
		{"1048576", 1048576, ""},
		{"64KiB", 64 << 10, ""},
		{"1MB", 1_000_000, ""},
		{" 1 GiB ", 1 << 30, ""},
		{"512B", 512, ""},
		{"2KB", 2000, ""},
		{"12 parsecs", 0, `expected a size such as 1048576, 64KiB or 1MiB, got "12 parsecs"`},
		{"-1", 0, `expected a size such as 1048576, 64KiB or 1MiB, got "-1"`},
		{"1.5MiB", 0, `expected a size such as 1048576, 64KiB or 1MiB, got "1.5MiB"`},
		{"9999999999999GiB", 0, `size "9999999999999GiB" is too large`},
		{"99999999999999999999", 0, `size "99999999999999999999": strconv.Atoi: parsing "99999999999999999999": value out of range`},
	} {
		got, err := compiler.ParseSize(tc.in)
		errText := ""
		if err != nil {
			errText = err.Error()
		}
		if got != tc.want || errText != tc.err {
			t.Errorf("ParseSize(%q) = %d, %q; want %d, %q", tc.in, got, errText, tc.want, tc.err)
		}
	}
}
