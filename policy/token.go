package policy

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// maxFileSize bounds the hba, ident and @file files LoadHBA and LoadIdent
// read. Real files are a few kilobytes; the bound keeps a mistaken path
// (a log file, a device) from being read into memory whole.
const maxFileSize = 16 << 20

// token is one item of a field as PostgreSQL's configuration lexer sees it.
type token struct {
	text string
	// quoted is set when any part of the token was in double quotes: a
	// quoted keyword ("all") is a plain name, as in PostgreSQL.
	quoted bool
	// leadQuoted is set when the token starts with a quote: only a bare
	// leading '@' names a file.
	leadQuoted bool
}

// keyword reports whether t is the unquoted keyword kw.
func (t token) keyword(kw string) bool { return !t.quoted && t.text == kw }

// field is one whitespace-separated column: a comma list of tokens.
type field []token

// splitLine cuts one line into fields. The syntax is PgBouncer's reading
// of pg_hba.conf: '#' outside quotes starts a comment, double quotes may
// hold whitespace, commas and '#', a doubled quote inside quotes is a
// literal quote, and commas (with optional whitespace around them) join
// tokens into a list. Quoted and unquoted runs without separators between
// them form one token, as in PostgreSQL. The error is a message without a
// position; the caller adds file and line.
func splitLine(line string) ([]field, string) {
	var fields []field
	i := 0
	for {
		i = skipSpace(line, i)
		if i >= len(line) || line[i] == '#' {
			return fields, ""
		}
		if line[i] == ',' {
			return nil, "list starts with a comma"
		}
		var f field
		for {
			tok, next, msg := readToken(line, i)
			if msg != "" {
				return nil, msg
			}
			f = append(f, tok)
			i = skipSpace(line, next)
			if i >= len(line) || line[i] != ',' {
				break
			}
			i = skipSpace(line, i+1)
			if i >= len(line) || line[i] == '#' {
				return nil, "list ends with a comma"
			}
			if line[i] == ',' {
				return nil, "empty element in a comma list"
			}
		}
		fields = append(fields, f)
	}
}

// readToken reads the token starting at line[i], which is neither a
// separator nor the start of a comment.
func readToken(line string, i int) (token, int, string) {
	var b strings.Builder
	tok := token{leadQuoted: line[i] == '"'}
	for i < len(line) {
		c := line[i]
		switch {
		case c == '"':
			tok.quoted = true
			i++
			closed := false
			for i < len(line) {
				if line[i] == '"' {
					if i+1 < len(line) && line[i+1] == '"' {
						b.WriteByte('"')
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				b.WriteByte(line[i])
				i++
			}
			if !closed {
				return token{}, i, "unterminated quoted string"
			}
		case isSpace(c) || c == ',' || c == '#':
			tok.text = b.String()
			return tok, i, ""
		default:
			b.WriteByte(c)
			i++
		}
	}
	tok.text = b.String()
	return tok, i, ""
}

// isSpace is C's isspace in the C locale, which PgBouncer and PostgreSQL
// use to separate fields; '\r' makes CRLF files read like LF files.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func skipSpace(s string, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i
}

// lines splits data into lines without their terminators. Line n of the
// file is element n-1.
func lines(data []byte) []string {
	return strings.Split(string(data), "\n")
}

// readFileLimited reads path, refusing anything but a regular file of at
// most maxFileSize bytes (a FIFO would block, a device never end).
func readFileLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxFileSize)
	}
	return data, nil
}

// resolveInclude returns the path of an @file named in parent: relative
// names are taken from parent's directory, as PgBouncer and PostgreSQL do.
func resolveInclude(parent, name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(filepath.Dir(parent), name)
}
