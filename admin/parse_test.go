package admin

import (
	"strings"
	"testing"
)

func TestParseQuery(t *testing.T) {
	type cmd struct {
		verb, arg, value string
		hasArg           bool
		bad              badKind
	}
	for _, tc := range []struct {
		q    string
		want []cmd
	}{
		{"SHOW POOLS", []cmd{{verb: "show", arg: "POOLS", hasArg: true}}},
		{"  show\tpools ;  ", []cmd{{verb: "show", arg: "pools", hasArg: true}}},
		{"PAUSE", []cmd{{verb: "pause"}}},
		{`pause "My-DB"`, []cmd{{verb: "pause", arg: "My-DB", hasArg: true}}},
		{`pause "a""b"`, []cmd{{verb: "pause", arg: `a"b`, hasArg: true}}},
		{`"SHOW" pools`, []cmd{{verb: "SHOW", arg: "pools", hasArg: true}}},
		{"kill_client 12", []cmd{{verb: "kill_client", arg: "12", hasArg: true}}},
		{"SET a=b", []cmd{{verb: "set", arg: "a", value: "b", hasArg: true}}},
		{"set a TO 'it''s'", []cmd{{verb: "set", arg: "a", value: "it's", hasArg: true}}},
		{"SET a = ''", []cmd{{verb: "set", arg: "a", value: "", hasArg: true}}},
		{`SET "" = x`, []cmd{{bad: badArgs}}},
		{"SET a = 'x;y'; SHOW x", []cmd{{verb: "set", arg: "a", value: "x;y", hasArg: true}, {verb: "show", arg: "x", hasArg: true}}},
		{"SET a b", []cmd{{bad: badSyntax}}},
		{"SET a = = b", []cmd{{bad: badSyntax}}},
		{"SET a = b c", []cmd{{bad: badSyntax}}},
		{"SHOW a b", []cmd{{bad: badSyntax}}},
		{"SHOW 'a'", []cmd{{bad: badSyntax}}},
		{"= x", []cmd{{bad: badSyntax}}},
		{"sh-ow x", []cmd{{bad: badSyntax}}},
		{"SHOW 'unterminated", []cmd{{bad: badSyntax}}},
		{`PAUSE "unterminated; SHOW x`, []cmd{{bad: badSyntax}}},
		{"", nil},
		{" ;; ; ", nil},
		{"-- only a comment", nil},
		{"SHOW x -- comment; SHOW y\n; SHOW z", []cmd{{verb: "show", arg: "x", hasArg: true}, {verb: "show", arg: "z", hasArg: true}}},
		{"SET x = -1", []cmd{{verb: "set", arg: "x", value: "-1", hasArg: true}}},
		{"SHOW a;bogus b c;SHOW d", []cmd{{verb: "show", arg: "a", hasArg: true}, {bad: badSyntax}, {verb: "show", arg: "d", hasArg: true}}},
	} {
		got := parseQuery(tc.q)
		if len(got) != len(tc.want) {
			t.Errorf("%q: %d statements, want %d: %+v", tc.q, len(got), len(tc.want), got)
			continue
		}
		for i, w := range tc.want {
			g := got[i]
			if g.verb != strings.ToLower(w.verb) && g.verb != w.verb || g.arg != w.arg || g.value != w.value || g.hasArg != w.hasArg || g.bad != w.bad {
				t.Errorf("%q[%d]: got %+v, want %+v", tc.q, i, g, w)
			}
		}
	}
}

func TestParseQueryText(t *testing.T) {
	if got := parseQuery("bogus;")[0].text; got != "bogus;" {
		t.Errorf("single statement text %q, want the query whole", got)
	}
	cmds := parseQuery("SHOW a ;  bogus  x ; SHOW b")
	if cmds[1].text != "bogus  x" {
		t.Errorf("statement text %q", cmds[1].text)
	}
}
