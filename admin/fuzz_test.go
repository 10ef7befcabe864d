package admin

import (
	"strings"
	"testing"
)

func FuzzParseCommand(f *testing.F) {
	for _, seed := range []string{
		"SHOW POOLS", "show pools;", "PAUSE \"my\"\"db\"", "SET a = 'it''s'", "set a to b",
		"SHOW a; SHOW b;; -- c\nRELOAD", "KILL_CLIENT 18446744073709551615", "SET \"\" = x",
		"'unterminated", "\"unterminated", "--", "-", "=;=", "SHOW\x00POOLS", "SET a=b=c",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, q string) {
		cmds := parseQuery(q)
		if len(cmds) > strings.Count(q, ";")+1 {
			t.Fatalf("%d statements from %d separators", len(cmds), strings.Count(q, ";"))
		}
		for _, c := range cmds {
			if !strings.Contains(q, c.text) {
				t.Fatalf("statement text %q not in the query", c.text)
			}
			if c.bad != wellFormed {
				if c.verb != "" {
					t.Fatalf("refused statement with verb %q", c.verb)
				}
				continue
			}
			if !isKeyword(c.verb) || c.verb != strings.ToLower(c.verb) {
				t.Fatalf("verb %q", c.verb)
			}
			if c.verb == "set" && (!c.hasArg || c.arg == "") {
				t.Fatalf("SET without a key: %+v", c)
			}
			if !c.hasArg && c.arg != "" {
				t.Fatalf("argument without hasArg: %+v", c)
			}
		}
	})
}
