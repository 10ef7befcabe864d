package admin

import (
	"strings"
)

// command is one console statement, parsed.
type command struct {
	verb   string // lower case: "show", "pause", "set", ...; "" when not well formed
	arg    string // the argument, unquoted; SET's key
	hasArg bool
	value  string // SET's value, unquoted
	bad    badKind
	text   string // the statement as sent, for error messages
}

// badKind tells why a statement was refused.
type badKind uint8

const (
	wellFormed badKind = iota
	badSyntax          // "invalid command '...', use SHOW HELP;"
	badArgs            // "bad arguments"
)

// parseQuery splits the text of a Query message into statements and
// parses each. PgBouncer's grammar, per statement:
//
//	WORD [WORD]
//	SET WORD {= | TO} {WORD | 'string'}
//
// where WORD is a bare word or a "double-quoted" one and 'string' is
// single-quoted, a doubled quote standing for one in both. Keywords are
// case-insensitive, arguments are kept as written. Unlike PgBouncer, which
// takes one statement per query, statements may be separated by ';';
// empty ones are dropped, and "--" starts a comment that runs to the end
// of the line.
// Bare words are any run of characters other than white space, quotes,
// ';' and '=' (PgBouncer takes only letters, digits and '_').
func parseQuery(q string) []command {
	var cmds []command
	l := lexer{q: q}
	for {
		start := l.pos
		toks, bad, more := l.statement()
		if len(toks) > 0 || bad {
			c := build(toks, bad)
			c.text = strings.TrimSpace(q[start:l.end])
			cmds = append(cmds, c)
		}
		if !more {
			break
		}
	}
	if len(cmds) == 1 {
		// One statement: echo the query whole in errors, as PgBouncer.
		cmds[0].text = q
	}
	return cmds
}

// build makes a command of one statement's tokens.
func build(toks []token, bad bool) command {
	if bad || len(toks) == 0 || (toks[0].kind != tWord && toks[0].kind != tIdent) {
		return command{bad: badSyntax}
	}
	verb := strings.ToLower(toks[0].val)
	if !isKeyword(verb) {
		return command{bad: badSyntax}
	}
	if verb == "set" {
		return buildSet(toks[1:])
	}
	switch len(toks) {
	case 1:
		return command{verb: verb}
	case 2:
		if toks[1].kind != tWord && toks[1].kind != tIdent {
			return command{bad: badSyntax}
		}
		return command{verb: verb, arg: toks[1].val, hasArg: true}
	}
	return command{bad: badSyntax}
}

// buildSet parses what follows SET: key {= | TO} value.
func buildSet(toks []token) command {
	if len(toks) != 3 {
		return command{bad: badSyntax}
	}
	key, op, val := toks[0], toks[1], toks[2]
	if key.kind != tWord && key.kind != tIdent {
		return command{bad: badSyntax}
	}
	if op.kind != tEq && (op.kind != tWord || !strings.EqualFold(op.val, "to")) {
		return command{bad: badSyntax}
	}
	if val.kind == tEq {
		return command{bad: badSyntax}
	}
	if key.val == "" {
		return command{bad: badArgs}
	}
	return command{verb: "set", arg: key.val, hasArg: true, value: val.val}
}

// isKeyword reports whether s could be a command name: letters, digits
// and '_' (PgBouncer's bare word).
func isKeyword(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

type tokKind uint8

const (
	tWord   tokKind = iota // bare word
	tIdent                 // "double-quoted"
	tString                // 'single-quoted'
	tEq                    // =
)

type token struct {
	kind tokKind
	val  string
}

// lexer walks a query statement by statement.
type lexer struct {
	q   string
	pos int
	end int // end of the last statement's text (before its ';')
}

// statement reads tokens up to the next ';' outside quotes or the end of
// the query. bad reports an unterminated quote; more whether a ';' was
// consumed (more statements may follow).
func (l *lexer) statement() (toks []token, bad, more bool) {
	q := l.q
	for l.pos < len(q) {
		c := q[l.pos]
		switch {
		case isSpace(c):
			l.pos++
		case c == ';':
			l.end = l.pos
			l.pos++
			return toks, bad, true
		case c == '-' && l.pos+1 < len(q) && q[l.pos+1] == '-':
			nl := strings.IndexByte(q[l.pos:], '\n')
			if nl < 0 {
				l.pos = len(q)
			} else {
				l.pos += nl + 1
			}
		case c == '=':
			toks = append(toks, token{kind: tEq})
			l.pos++
		case c == '\'' || c == '"':
			val, ok := l.quoted(c)
			if !ok {
				bad = true
			}
			kind := tString
			if c == '"' {
				kind = tIdent
			}
			toks = append(toks, token{kind: kind, val: val})
		default:
			start := l.pos
			for l.pos < len(q) && isWordByte(q, l.pos) {
				l.pos++
			}
			toks = append(toks, token{kind: tWord, val: q[start:l.pos]})
		}
	}
	l.end = len(q)
	return toks, bad, false
}

// quoted reads a string quoted with qc, a doubled qc standing for one.
// ok is false when the quote is not closed (the rest is consumed).
func (l *lexer) quoted(qc byte) (string, bool) {
	q := l.q
	l.pos++ // opening quote
	var b strings.Builder
	for l.pos < len(q) {
		c := q[l.pos]
		if c == qc {
			if l.pos+1 < len(q) && q[l.pos+1] == qc {
				b.WriteByte(qc)
				l.pos += 2
				continue
			}
			l.pos++
			return b.String(), true
		}
		b.WriteByte(c)
		l.pos++
	}
	return b.String(), false
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// isWordByte reports whether q[i] continues a bare word.
func isWordByte(q string, i int) bool {
	switch c := q[i]; {
	case isSpace(c), c == ';', c == '=', c == '\'', c == '"':
		return false
	case c == '-' && i+1 < len(q) && q[i+1] == '-':
		return false
	}
	return true
}
