package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seedFiles returns every .ini file under testdata, includes too.
func seedFiles(f *testing.F) [][]byte {
	f.Helper()
	var out [][]byte
	for _, pattern := range []string{"testdata/*.ini", "testdata/inc/*.ini"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, name := range files {
			data, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			out = append(out, data)
		}
	}
	if len(out) == 0 {
		f.Fatal("no seed files")
	}
	return out
}

// FuzzParse feeds whole files to Parse with includes refused. It must not
// panic; every error must be an *Error pointing inside the input; and a
// parsed file's effective output must read back to itself.
func FuzzParse(f *testing.F) {
	for _, data := range seedFiles(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.ini", data, ParseOptions{ReadFile: refuseIncludes})
		lines := bytes.Count(data, []byte("\n")) + 1
		inside := func(file string, line int) bool { return file == "fuzz.ini" && line >= 1 && line <= lines }
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error is %T, not *Error: %v", err, err)
			}
			if !inside(e.File, e.Line) {
				t.Fatalf("error outside the input (%d lines): %v", lines, err)
			}
			return
		}
		for _, w := range cfg.Warnings {
			if !inside(w.File, w.Line) {
				t.Fatalf("warning outside the input (%d lines): %v", lines, w)
			}
		}
		if err := effectiveIsFixedPoint(cfg); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzDatabaseValue checks the libpq-style value parser: no panics, value
// spans that match the source, and values that survive re-quoting.
func FuzzDatabaseValue(f *testing.F) {
	for _, data := range seedFiles(f) {
		for _, line := range strings.Split(string(data), "\n") {
			if _, value, ok := strings.Cut(line, " = "); ok && strings.Contains(value, "=") {
				f.Add(value)
			}
		}
	}
	for _, s := range []string{"", "host=a port=1", "password='a''b' x=y", "k='unterminated", "k= v=w", "=x", "k='a'b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		params, err := parseConnString(s)
		if err != nil {
			return
		}
		parts := make([]string, 0, len(params))
		for _, p := range params {
			if p.key == "" || strings.ContainsAny(p.key, "= \t") || p.value == "" {
				t.Fatalf("bad pair %q=%q from %q", p.key, p.value, s)
			}
			if p.start < 0 || p.start >= p.end || p.end > len(s) {
				t.Fatalf("span [%d,%d) outside %q", p.start, p.end, s)
			}
			if raw := s[p.start:p.end]; raw[0] != '\'' && raw != p.value {
				t.Fatalf("bare span %q differs from value %q", raw, p.value)
			}
			parts = append(parts, p.key+"="+quoteConnValue(p.value))
		}
		again, err := parseConnString(strings.Join(parts, " "))
		if err != nil {
			t.Fatalf("re-quoted %q does not parse: %v", strings.Join(parts, " "), err)
		}
		if len(again) != len(params) {
			t.Fatalf("re-quoted value has %d pairs, want %d", len(again), len(params))
		}
		for i := range params {
			if again[i].key != params[i].key || again[i].value != params[i].value {
				t.Fatalf("pair %d changed: %q=%q became %q=%q", i, params[i].key, params[i].value, again[i].key, again[i].value)
			}
		}
		redacted := redactRaw(s, params)
		if _, err := parseConnString(redacted); err != nil {
			t.Fatalf("redacted value %q does not parse: %v", redacted, err)
		}
	})
}
