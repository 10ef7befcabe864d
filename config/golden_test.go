package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// goldenInputs lists the golden test inputs; files under testdata/inc are
// only reached through %include.
func goldenInputs(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.ini"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	return files
}

// render is what a golden file holds for one input: the warnings and the
// effective configuration, or the error.
func render(cfg *Config, err error) (string, error) {
	var b bytes.Buffer
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return "", fmt.Errorf("error is %T, not *Error: %v", err, err)
		}
		fmt.Fprintf(&b, "-- error --\n%s\n", err)
		return b.String(), nil
	}
	b.WriteString("-- warnings --\n")
	for _, w := range cfg.Warnings {
		fmt.Fprintf(&b, "%s\n", w)
	}
	b.WriteString("-- effective --\n")
	if err := cfg.WriteEffective(&b); err != nil {
		return "", err
	}
	return b.String(), nil
}

func TestGolden(t *testing.T) {
	for _, in := range goldenInputs(t) {
		t.Run(filepath.Base(in), func(t *testing.T) {
			cfg, err := Load(in)
			got, rerr := render(cfg, err)
			if rerr != nil {
				t.Fatal(rerr)
			}
			golden := strings.TrimSuffix(in, ".ini") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s:\n--- got ---\n%s\n--- want ---\n%s", golden, got, want)
			}
		})
	}
}

// TestGoldenErrorsPointInsideInput checks that every golden error names an
// input file and a line that exists in it.
func TestGoldenErrorsPointInsideInput(t *testing.T) {
	for _, in := range goldenInputs(t) {
		_, err := Load(in)
		var e *Error
		if err == nil {
			continue
		}
		if !errors.As(err, &e) {
			t.Errorf("%s: error is %T, not *Error", in, err)
			continue
		}
		data, rerr := os.ReadFile(e.File)
		if rerr != nil {
			t.Errorf("%s: error names unreadable file %q", in, e.File)
			continue
		}
		if lines := bytes.Count(data, []byte("\n")) + 1; e.Line < 1 || e.Line > lines {
			t.Errorf("%s: error line %d outside %s (%d lines)", in, e.Line, e.File, lines)
		}
	}
}

// TestEffectiveRoundTrip checks that WriteEffective's output is a valid
// configuration that means the same: parsing it and writing it again gives
// the same text.
func TestEffectiveRoundTrip(t *testing.T) {
	configs := map[string]*Config{"Default()": Default()}
	for _, in := range goldenInputs(t) {
		if cfg, err := Load(in); err == nil {
			configs[in] = cfg
		}
	}
	for name, cfg := range configs {
		if err := effectiveIsFixedPoint(cfg); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func effectiveIsFixedPoint(cfg *Config) error {
	var first bytes.Buffer
	if err := cfg.WriteEffective(&first); err != nil {
		return err
	}
	conffile := cfg.General.Conffile
	again, err := Parse(conffile, first.Bytes(), ParseOptions{ReadFile: refuseIncludes})
	if err != nil {
		return fmt.Errorf("effective output does not parse: %v\n%s", err, first.String())
	}
	var second bytes.Buffer
	if err := again.WriteEffective(&second); err != nil {
		return err
	}
	if first.String() != second.String() {
		return fmt.Errorf("effective output changes when read back:\n--- first ---\n%s\n--- second ---\n%s", first.String(), second.String())
	}
	return nil
}

func refuseIncludes(path string) ([]byte, error) {
	return nil, fmt.Errorf("includes are disabled here: %s", path)
}
