package cluster

import (
	"strings"
	"testing"
)

// tailReference is the obvious, allocation-heavy definition of tail.
func tailReference(s string, n int) string {
	if n <= 0 {
		return ""
	}
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func TestTail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"", 3, ""},
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\nc", 2, "b\nc"},
		{"a\nb\nc\n\n\n", 1, "c"},
		{"a\nb", 5, "a\nb"},
		{"a\nb", 0, ""},
		{"a\n\nb", 2, "\nb"},
	}
	for _, tc := range tests {
		if got := tail(tc.in, tc.n); got != tc.want {
			t.Errorf("tail(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func FuzzTail(f *testing.F) {
	f.Add("a\nb\nc\n", 2)
	f.Add("\n\n", 1)
	f.Add("line", 0)
	f.Add("x\r\ny\n", -1)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if got, want := tail(s, n), tailReference(s, n); got != want {
			t.Fatalf("tail(%q, %d) = %q, want %q", s, n, got, want)
		}
	})
}
