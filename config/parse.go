package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ParseOptions tune Parse. The zero value reads %include files from disk.
type ParseOptions struct {
	// ReadFile reads a %include file; nil means os.ReadFile. Tests serve
	// files from memory with it, and fuzzing passes one that refuses.
	ReadFile func(path string) ([]byte, error)
}

// Load reads the configuration file at path and the files it includes,
// and returns the validated result. It has no side effects, so reloads
// call it again and keep the old Config when it fails. A problem in the
// files is an *Error naming file and line.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return Parse(path, data, ParseOptions{})
}

// Parse reads a configuration whose main file, named file, holds data.
// Relative %include paths are tried from the working directory first, as
// PgBouncer does, then from the directory of the including file. Every
// error it returns is an *Error.
func Parse(file string, data []byte, opts ParseOptions) (*Config, error) {
	p := &parser{
		readFile: opts.ReadFile,
		main:     file,
		cfg: &Config{
			Databases: map[string]*Database{},
			Users:     map[string]*User{},
			Peers:     map[int]*Peer{},
		},
		set:  map[string]loc{},
		seen: map[string]bool{},
	}
	if p.readFile == nil {
		p.readFile = os.ReadFile
	}
	applyDefaults(&p.cfg.General)
	if err := p.parseFile(file, data); err != nil {
		return nil, err
	}
	if !p.gotMain {
		return nil, &Error{File: file, Line: 1, Problem: "missing [pgbouncer] section"}
	}
	if err := p.finish(); err != nil {
		return nil, err
	}
	return p.cfg, nil
}

// maxIncludeDepth is PgBouncer's limit on nested %include directives.
const maxIncludeDepth = 10

const (
	msgUnknown     = "unknown setting, ignored"
	msgUnsupported = "PgBouncer setting not supported by pgbun yet, ignored"
)

// loc is where a setting was written.
type loc struct {
	file string
	line int
}

type parser struct {
	readFile func(string) ([]byte, error)
	main     string
	cfg      *Config
	stack    []string // identities of the files being read, outermost first
	names    []string // the same files as named in messages
	seen     map[string]bool
	section  string         // current section; "" before the first header
	gotMain  bool           // a [pgbouncer] header was seen
	set      map[string]loc // [pgbouncer] keys set explicitly, by canonical name
}

func (p *parser) errorf(at loc, key, format string, args ...any) *Error {
	return &Error{File: at.file, Line: at.line, Key: key, Problem: fmt.Sprintf(format, args...)}
}

func (p *parser) warn(at loc, key, msg string) {
	p.cfg.Warnings = append(p.cfg.Warnings, Warning{File: at.file, Line: at.line, Key: key, Msg: msg})
}

// fileID is the identity used to detect include cycles.
func fileID(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return filepath.Clean(path)
}

func (p *parser) parseFile(name string, data []byte) error {
	p.stack = append(p.stack, fileID(name))
	p.names = append(p.names, name)
	defer func() {
		p.stack = p.stack[:len(p.stack)-1]
		p.names = p.names[:len(p.names)-1]
	}()
	if !p.seen[name] {
		p.seen[name] = true
		p.cfg.Files = append(p.cfg.Files, name)
	}
	text := strings.TrimPrefix(string(data), "\ufeff")
	for i, line := range strings.Split(text, "\n") {
		at := loc{name, i + 1}
		if strings.IndexByte(line, 0) >= 0 {
			return p.errorf(at, "", "line contains a NUL byte")
		}
		if err := p.line(line, at); err != nil {
			return err
		}
	}
	return nil
}

// line handles one line. Like PgBouncer, it reads on after a section
// header's "]", so "[pgbouncer] ; note" is a header and a comment.
func (p *parser) line(text string, at loc) error {
	for {
		text = strings.TrimLeftFunc(text, func(r rune) bool { return r < 0x80 && cSpace(byte(r)) })
		switch {
		case text == "":
			return nil
		case text[0] == '%':
			return p.directive(text, at)
		case text[0] == '#' || text[0] == ';':
			return nil
		case text[0] == '[':
			end := strings.IndexByte(text, ']')
			if end < 0 {
				return p.errorf(at, "", `syntax error: section header without closing "]"`)
			}
			if err := p.startSection(text[1:end], at); err != nil {
				return err
			}
			text = text[end+1:]
		default:
			return p.keyValue(text, at)
		}
	}
}

func (p *parser) directive(text string, at loc) error {
	const inc = "%include"
	if !strings.HasPrefix(text, inc) || (len(text) > len(inc) && text[len(inc)] != ' ' && text[len(inc)] != '\t') {
		word, _, _ := strings.Cut(text, " ")
		return p.errorf(at, "", "unknown directive %q", clip(word))
	}
	name := trimCSpace(text[len(inc):])
	if name == "" {
		return p.errorf(at, inc, "needs a file name")
	}
	return p.include(name, at)
}

func (p *parser) include(name string, at loc) error {
	if len(p.stack) > maxIncludeDepth {
		return p.errorf(at, "%include", "includes nested more than %d deep", maxIncludeDepth)
	}
	path := filepath.Clean(name)
	data, err := p.readFile(path)
	tried := ""
	if err != nil && errors.Is(err, fs.ErrNotExist) && !filepath.IsAbs(name) {
		// pgbun extension: a relative path missing from the working
		// directory is looked up next to the file that includes it.
		alt := filepath.Join(filepath.Dir(at.file), name)
		if alt != path {
			d, altErr := p.readFile(alt)
			if altErr == nil || !errors.Is(altErr, fs.ErrNotExist) {
				path, data, err = alt, d, altErr
			} else {
				tried = " (also tried " + alt + ")"
			}
		}
	}
	if err != nil {
		return &Error{File: at.file, Line: at.line, Key: "%include", Problem: "cannot read included file: " + err.Error() + tried, Err: err}
	}
	id := fileID(path)
	for i, open := range p.stack {
		if open == id {
			chain := append(append([]string{}, p.names[i:]...), path)
			return p.errorf(at, "%include", "include cycle: %s", strings.Join(chain, " -> "))
		}
	}
	return p.parseFile(path, data)
}

var sections = []string{"pgbouncer", "databases", "users", "peers"}

func (p *parser) startSection(name string, at loc) error {
	switch name {
	case "pgbouncer":
		if p.gotMain {
			p.resetGeneral(at)
		}
		p.gotMain = true
	case "databases", "users", "peers":
	default:
		for _, s := range sections {
			if strings.EqualFold(strings.TrimSpace(name), s) {
				return p.errorf(at, "", "unknown section [%s]: section names are exact and lower-case, use [%s]", clip(name), s)
			}
		}
		return p.errorf(at, "", "unknown section [%s]", clip(name))
	}
	p.section = name
	return nil
}

// resetGeneral mirrors PgBouncer, which sets every [pgbouncer] key that
// has a default back to it each time a [pgbouncer] header is read. A
// repeated header (often from an %include) thus discards earlier values;
// the warning says which.
func (p *parser) resetGeneral(at loc) {
	var reset []string
	for name := range p.set {
		s := settingByName[name]
		if s.keep {
			continue
		}
		if err := s.parse(&p.cfg.General, s.def); err != nil {
			panic("config: bad default for " + name + ": " + err.Error())
		}
		delete(p.set, name)
		reset = append(reset, name)
	}
	if len(reset) > 0 {
		sort.Strings(reset)
		p.warn(at, "pgbouncer", fmt.Sprintf("section started again: earlier values of %s are reset to defaults, as PgBouncer does", strings.Join(reset, ", ")))
	}
}

// isKeyByte reports the characters PgBouncer allows in an unquoted name.
func isKeyByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' ||
		b == '_' || b == '.' || b == '-' || b == '*'
}

// splitName reads the name at the start of a "name = value" line: a run
// of key characters, or a name in double quotes (SQL identifier style, as
// PgBouncer documents) or single quotes (as its parser reads), where a
// doubled quote stands for one.
func splitName(text string) (name, rest string, err error) {
	if q := text[0]; q == '"' || q == '\'' {
		var b strings.Builder
		for i := 1; i < len(text); i++ {
			if text[i] != q {
				b.WriteByte(text[i])
				continue
			}
			if i+1 < len(text) && text[i+1] == q {
				b.WriteByte(q)
				i++
				continue
			}
			if b.Len() == 0 {
				return "", "", errors.New("syntax error: empty quoted name")
			}
			return b.String(), text[i+1:], nil
		}
		return "", "", errors.New("syntax error: quoted name without closing quote")
	}
	i := 0
	for i < len(text) && isKeyByte(text[i]) {
		i++
	}
	switch {
	case i > 0:
		return text[:i], text[i:], nil
	case text[0] == '=':
		return "", "", errors.New(`syntax error: missing name before "="`)
	}
	return "", "", fmt.Errorf("syntax error: unexpected character %q (quote names that hold other characters)", rune(text[0]))
}

func (p *parser) keyValue(text string, at loc) error {
	name, rest, err := splitName(text)
	if err != nil {
		return p.errorf(at, "", "%s", err.Error())
	}
	rest = strings.TrimLeft(rest, " \t")
	if !strings.HasPrefix(rest, "=") {
		return p.errorf(at, "", "syntax error: expected \"=\" after %q (quote names that hold other characters)", clip(name))
	}
	value := trimCSpace(rest[1:])
	switch p.section {
	case "pgbouncer":
		return p.setGeneral(name, value, at)
	case "databases":
		return p.addDatabase(name, value, at)
	case "users":
		return p.addUser(name, value, at)
	case "peers":
		return p.addPeer(name, value, at)
	}
	return p.errorf(at, clip(name), "setting outside any section (put it under a [pgbouncer] header)")
}

func (p *parser) setGeneral(name, value string, at loc) error {
	s, ok := settingByName[name]
	if !ok {
		if canon, ok := settingByLower[strings.ToLower(name)]; ok {
			return p.errorf(at, name, "setting names are case-sensitive: did you mean %s?", canon)
		}
		p.warn(at, clip(name), msgUnknown)
		return nil
	}
	if err := s.parse(&p.cfg.General, value); err != nil {
		return p.errorf(at, name, "%s", err.Error())
	}
	p.set[canonicalName(s)] = at
	if !s.supported {
		p.warn(at, name, msgUnsupported)
	}
	return nil
}

// finish fills values that depend on the whole file and runs the checks
// that involve several keys.
func (p *parser) finish() error {
	if _, ok := p.set["conffile"]; !ok {
		p.cfg.General.Conffile = p.main
	}
	for _, peer := range p.cfg.Peers {
		if peer.PoolSize < 0 {
			peer.PoolSize = p.cfg.General.DefaultPoolSize
		}
	}
	return p.validate()
}

// clip shortens text echoed in a message.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
