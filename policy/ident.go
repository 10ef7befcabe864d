package policy

import (
	"fmt"
	"regexp"
	"strings"
)

// IdentMap is a parsed ident map file (auth_ident_file, pg_ident.conf
// syntax). It relates the name a client proved by other means (the CN of
// its TLS client certificate, or its OS user for peer authentication) to
// the database users it may log in as. An IdentMap is immutable and safe
// for concurrent use.
//
// Each line is MAPNAME SYSTEM-USERNAME DATABASE-USERNAME. Beyond
// PgBouncer, which takes literal names only, pgbun reads PostgreSQL's
// forms: a SYSTEM-USERNAME starting with '/' is a regular expression
// (searched for, not anchored: write ^ and $), and the first \1 in
// DATABASE-USERNAME is replaced by its first capture group; a
// DATABASE-USERNAME that is the bare keyword all admits every user, and
// one starting with '/' is a regular expression the requested user must
// match. Regular expressions use Go's RE2 syntax rather than PostgreSQL's
// ARE: there are no backreferences inside a pattern, no lookahead or
// lookbehind, and no ARE-only escapes such as \m, \M and \y; in exchange
// matching runs in linear time whatever a certificate's CN contains.
// +group and include directives are not supported.
type IdentMap struct {
	maps map[string][]identLine
}

type identLine struct {
	sys   string         // literal system user, when sysRe is nil
	sysRe *regexp.Regexp // regular expression on the system user

	db    string         // literal database user, when neither dbAll nor dbRe
	dbAll bool           // keyword all
	dbRe  *regexp.Regexp // regular expression on the database user
	subst bool           // db contains \1 to be replaced by sysRe's first group
}

// LoadIdent reads and parses the ident map file at path.
func LoadIdent(path string) (*IdentMap, error) {
	data, err := readFileLimited(path)
	if err != nil {
		return nil, fmt.Errorf("load ident file: %w", err)
	}
	return ParseIdent(path, data)
}

// ParseIdent parses the contents of an ident map file named file. The
// first problem found is returned as a *ParseError.
func ParseIdent(file string, data []byte) (*IdentMap, error) {
	m := &IdentMap{maps: make(map[string][]identLine)}
	for i, ln := range lines(data) {
		n := i + 1
		fields, msg := splitLine(ln)
		if msg != "" {
			return nil, parseErrorf(file, n, "%s", msg)
		}
		if len(fields) == 0 {
			continue
		}
		toks := make([]token, len(fields))
		for j, f := range fields {
			t, err := single(file, n, f, "an ident map field")
			if err != nil {
				return nil, err
			}
			toks[j] = t
		}
		if len(toks) == 2 && (toks[0].keyword("include") || toks[0].keyword("include_if_exists") || toks[0].keyword("include_dir")) {
			return nil, parseErrorf(file, n, "%s directives are not supported", toks[0].text)
		}
		if len(toks) != 3 {
			return nil, parseErrorf(file, n, "want 3 fields (map name, system user, database user), got %d", len(toks))
		}
		l, err := parseIdentLine(file, n, toks[1], toks[2])
		if err != nil {
			return nil, err
		}
		if toks[0].text == "" {
			return nil, parseErrorf(file, n, "empty map name")
		}
		m.maps[toks[0].text] = append(m.maps[toks[0].text], l)
	}
	return m, nil
}

func parseIdentLine(file string, n int, sys, db token) (identLine, error) {
	var l identLine
	// As in PostgreSQL, a leading '/' makes a regular expression even in
	// quotes: patterns with spaces, commas or '#' have to be quoted.
	if strings.HasPrefix(sys.text, "/") {
		re, err := regexp.Compile(sys.text[1:])
		if err != nil {
			return l, parseErrorf(file, n, "invalid regular expression %q: %v", sys.text[1:], err)
		}
		l.sysRe = re
	} else if sys.text == "" {
		return l, parseErrorf(file, n, "empty system user name")
	} else {
		l.sys = sys.text
	}

	switch {
	case db.keyword("all"):
		l.dbAll = true
	case !db.quoted && strings.HasPrefix(db.text, "+"):
		return l, parseErrorf(file, n, "group membership (%s) is not supported: pgbun does not know role membership", db.text)
	case strings.HasPrefix(db.text, "/"):
		re, err := regexp.Compile(db.text[1:])
		if err != nil {
			return l, parseErrorf(file, n, "invalid regular expression %q: %v", db.text[1:], err)
		}
		l.dbRe = re
	case db.text == "":
		return l, parseErrorf(file, n, "empty database user name")
	default:
		l.db = db.text
		// \1 is only special after a regular expression, as in PostgreSQL.
		if l.sysRe != nil && strings.Contains(db.text, `\1`) {
			if l.sysRe.NumSubexp() == 0 {
				return l, parseErrorf(file, n, `database user %q uses \1 but the regular expression has no capture group`, db.text)
			}
			l.subst = true
		}
	}
	return l, nil
}

// Allows reports whether the map named mapName lets systemUser log in as
// dbUser. Without a map (a nil IdentMap, or an empty mapName because the
// hba line has no map option) the two names must be equal, which is what
// cert and peer authentication require in PostgreSQL. A map name that the
// file does not define allows nothing.
func (m *IdentMap) Allows(mapName, systemUser, dbUser string) bool {
	if m == nil || mapName == "" {
		return systemUser == dbUser
	}
	for i := range m.maps[mapName] {
		if m.maps[mapName][i].allows(systemUser, dbUser) {
			return true
		}
	}
	return false
}

func (l *identLine) allows(systemUser, dbUser string) bool {
	var group string
	if l.sysRe != nil {
		sub := l.sysRe.FindStringSubmatch(systemUser)
		if sub == nil {
			return false
		}
		if len(sub) > 1 {
			group = sub[1]
		}
	} else if systemUser != l.sys {
		return false
	}
	switch {
	case l.dbAll:
		return true
	case l.dbRe != nil:
		return l.dbRe.MatchString(dbUser)
	case l.subst:
		// PostgreSQL replaces the first \1 only.
		return strings.Replace(l.db, `\1`, group, 1) == dbUser
	}
	return l.db == dbUser
}
