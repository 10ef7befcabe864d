package config

import (
	"bufio"
	"fmt"
	"go/ast"
	goparser "go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestEverySettingReachesAField checks that each [pgbouncer] key changes
// exactly one field of General (two for server_check_query) and that no
// field is left without a key.
func TestEverySettingReachesAField(t *testing.T) {
	touched := map[string]bool{}
	try := func(s *setting, value string) {
		var base General
		applyDefaults(&base)
		changed := base
		if err := s.parse(&changed, value); err != nil {
			t.Fatalf("%s = %q: %v", s.name, value, err)
		}
		diff := changedFields("", reflect.ValueOf(base), reflect.ValueOf(changed))
		if len(diff) != 1 {
			t.Errorf("%s = %q changes fields %v, want one", s.name, value, diff)
		}
		for _, f := range diff {
			touched[f] = true
		}
	}
	for i := range settings {
		s := &settings[i]
		if s.alias != "" {
			continue
		}
		var g General
		applyDefaults(&g)
		try(s, nonDefault(t, s, &g))
	}
	// server_check_query's third state: set to nothing, no check at all.
	try(settingByName["server_check_query"], "")
	for _, f := range allFields("", reflect.TypeOf(General{})) {
		if !touched[f] {
			t.Errorf("General.%s is set by no key", f)
		}
	}
}

// nonDefault finds a value that parses and differs from the default.
func nonDefault(t *testing.T, s *setting, g *General) string {
	t.Helper()
	before := s.fmt(g)
	for _, v := range []string{"1", "0", "7", "0600", "2.5", "transaction", "trust", "require", "all", "x, y", "some text", "http-01", "0.5", "json"} {
		trial := *g
		if s.parse(&trial, v) == nil && s.fmt(&trial) != before {
			*g = trial
			return v
		}
	}
	t.Fatalf("%s: no non-default sample value", s.name)
	return ""
}

func changedFields(prefix string, a, b reflect.Value) []string {
	var out []string
	for i := 0; i < a.NumField(); i++ {
		name := prefix + a.Type().Field(i).Name
		if a.Field(i).Kind() == reflect.Struct {
			out = append(out, changedFields(name+".", a.Field(i), b.Field(i))...)
			continue
		}
		if !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			out = append(out, name)
		}
	}
	return out
}

func allFields(prefix string, t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Type.Kind() == reflect.Struct {
			out = append(out, allFields(prefix+f.Name+".", f.Type)...)
			continue
		}
		out = append(out, prefix+f.Name)
	}
	return out
}

// TestKeyTablesAreConsistent checks the tables themselves: names are
// unique and an alias names a key of its own table that is no alias.
func TestKeyTablesAreConsistent(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range settings {
		if seen[s.name] {
			t.Errorf("[pgbouncer] %s is listed twice", s.name)
		}
		seen[s.name] = true
		if s.alias != "" {
			if target, ok := settingByName[s.alias]; !ok || target.alias != "" {
				t.Errorf("[pgbouncer] %s is an alias of %q, which is not a key", s.name, s.alias)
			}
		}
	}
	checkEntryTable(t, "databases", databaseKeys)
	checkEntryTable(t, "users", userKeys)
	checkEntryTable(t, "peers", peerKeys)
}

func checkEntryTable[E any](t *testing.T, section string, table []entryKey[E]) {
	t.Helper()
	seen := map[string]bool{}
	for _, k := range table {
		if seen[k.name] {
			t.Errorf("[%s] %s is listed twice", section, k.name)
		}
		seen[k.name] = true
		switch {
		case k.alias == "" && k.set == nil:
			t.Errorf("[%s] %s has no setter", section, k.name)
		case k.alias != "" && (k.set != nil || k.supported):
			t.Errorf("[%s] %s is an alias: its setter and status are its target's", section, k.name)
		case k.alias != "":
			if target := lookupEntryKey(table, k.alias); target == nil || target.name != k.alias {
				t.Errorf("[%s] %s is an alias of %q, which is not a key", section, k.name, k.alias)
			}
		}
	}
}

// entrySection describes one kind of entry for the tests: for each key
// of its table (aliases left out), the fields of the entry a value
// changes, starting from the entry the parser starts from (none for a key
// that only checks its value), and whether pgbun acts on the key.
type entrySection struct {
	name      string
	fields    map[string][]string
	supported map[string]bool
	all       []string // every field of the entry's struct
}

func entrySections(t *testing.T) []entrySection {
	t.Helper()
	return []entrySection{
		describeEntries(t, "databases", databaseKeys, func() *Database { return newDatabase("") }),
		describeEntries(t, "users", userKeys, func() *User { return newUser("") }),
		describeEntries(t, "peers", peerKeys, func() *Peer { return newPeer(0) }),
	}
}

// entrySamples are tried in turn until one is accepted and changes the
// entry.
var entrySamples = []string{"7", "transaction", "disable", "any", "some text"}

func describeEntries[E any](t *testing.T, section string, table []entryKey[E], fresh func() *E) entrySection {
	t.Helper()
	d := entrySection{name: section, fields: map[string][]string{}, supported: map[string]bool{},
		all: allFields("", reflect.TypeOf(*fresh()))}
	for _, k := range table {
		if k.alias != "" {
			continue
		}
		d.supported[k.name] = k.supported
		accepted := false
		for _, v := range entrySamples {
			e := fresh()
			if k.set(e, v) != nil {
				continue
			}
			accepted = true
			if diff := changedFields("", reflect.ValueOf(*fresh()), reflect.ValueOf(*e)); len(diff) > 0 {
				d.fields[k.name] = diff
				break
			}
		}
		if !accepted {
			t.Fatalf("[%s] %s: no sample value is accepted", section, k.name)
		}
	}
	return d
}

// TestEntryKeysReachAField checks the [databases], [users] and [peers]
// tables against the structs: a key changes at most one field, a key the
// runtime acts on stores its value, and every field but the entry's name
// and origin is set by some key.
func TestEntryKeysReachAField(t *testing.T) {
	for _, d := range entrySections(t) {
		touched := map[string]bool{"Name": true, "ID": true, "File": true, "Line": true, "Raw": true}
		for key, supported := range d.supported {
			diff := d.fields[key]
			if len(diff) > 1 {
				t.Errorf("[%s] %s changes fields %v, want one", d.name, key, diff)
			}
			if len(diff) == 0 && supported {
				t.Errorf("[%s] %s is supported but stores nothing", d.name, key)
			}
			for _, f := range diff {
				touched[f] = true
			}
		}
		for _, f := range d.all {
			if !touched[f] {
				t.Errorf("[%s] field %s is set by no key", d.name, f)
			}
		}
	}
}

// TestSupportedMatchesTheRuntime compares each key's supported mark with
// the code that uses configuration: packages other than config, and
// Config.Pool (resolve.go), through which they read pool settings. A key
// whose field that code reads is acted on, so it must be supported; a
// supported key's field must be read there. Fields are
// matched by name in selector expressions of non-test files, which is
// enough while the names are distinctive; when two structs share a name,
// the check passes for both.
func TestSupportedMatchesTheRuntime(t *testing.T) {
	readers := selectorsOutsideConfig(t)
	for name, at := range selectorsIn(t, []string{"resolve.go"}) {
		if _, ok := readers[name]; !ok {
			readers[name] = "config/" + at
		}
	}
	check := func(key string, fields []string, supported bool) {
		t.Helper()
		readBy := ""
		for _, f := range fields {
			if at, ok := readers[f[strings.LastIndexByte(f, '.')+1:]]; ok {
				readBy = at
			}
		}
		switch {
		case supported && readBy == "":
			t.Errorf("%s is marked supported, but neither code outside package config nor Config.Pool reads its field %v", key, fields)
		case !supported && readBy != "":
			t.Errorf("%s is not marked supported, but %s reads its field %v: mark it supported", key, readBy, fields)
		}
	}
	for i := range settings {
		s := &settings[i]
		if s.alias != "" {
			continue
		}
		var base General
		applyDefaults(&base)
		changed := base
		nonDefault(t, s, &changed)
		fields := changedFields("", reflect.ValueOf(base), reflect.ValueOf(changed))
		if s.name == "server_check_query" {
			fields = append(fields, "ServerCheckDisabled")
		}
		check(s.name, fields, s.supported)
	}
	for _, d := range entrySections(t) {
		for key, fields := range d.fields {
			check(d.name+"."+key, fields, d.supported[key])
		}
	}
}

// selectorsOutsideConfig returns the names selected (x.Name) in the
// repository's non-test Go files outside package config, each with one
// place that selects it.
func selectorsOutsideConfig(t *testing.T) map[string]string {
	t.Helper()
	var files []string
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != ".." && (path == filepath.Join("..", "config") || name == "testdata" || name == "vendor" ||
				strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no Go files found outside package config")
	}
	return selectorsIn(t, files)
}

func selectorsIn(t *testing.T, files []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	fset := token.NewFileSet()
	for _, path := range files {
		f, err := goparser.ParseFile(fset, path, nil, goparser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if _, seen := out[sel.Sel.Name]; !seen {
					pos := fset.Position(sel.Sel.Pos())
					out[sel.Sel.Name] = fmt.Sprintf("%s:%d", strings.TrimPrefix(filepath.ToSlash(pos.Filename), "../"), pos.Line)
				}
			}
			return true
		})
	}
	return out
}

// TestDocsCoverEveryKey keeps docs/configuration.md in step with the key
// table: every key has a "### name" entry in the right section whose
// status line says whether pgbun acts on it.
func TestDocsCoverEveryKey(t *testing.T) {
	f, err := os.Open("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	status := map[string]string{} // qualified key -> status line
	section, current := "", ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			section = ""
			for _, s := range []string{"databases", "users", "peers"} {
				if strings.Contains(line, "["+s+"]") {
					section = s + "."
				}
			}
			current = ""
		case strings.HasPrefix(line, "### "):
			current = section + strings.Trim(strings.TrimPrefix(line, "### "), "` ")
			if _, dup := status[current]; dup {
				t.Errorf("docs: %s documented twice", current)
			}
			status[current] = ""
		case current != "" && strings.HasPrefix(line, "- pgbun: "):
			status[current] = strings.TrimPrefix(line, "- pgbun: ")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	check := func(key string, supported bool) {
		st, ok := status[key]
		switch {
		case !ok:
			t.Errorf("docs: no entry for %s", key)
		case supported && !strings.HasPrefix(st, "supported"):
			t.Errorf("docs: %s is supported but its status is %q", key, st)
		case !supported && !strings.HasPrefix(st, "accepted, not yet acted on"):
			t.Errorf("docs: %s is not supported but its status is %q", key, st)
		}
	}
	for _, s := range settings {
		check(s.name, s.supported)
	}
	// An entry key's alias is documented under the key it stands for.
	for _, k := range databaseKeys {
		if k.alias == "" {
			check("databases."+k.name, k.supported)
		}
	}
	for _, k := range userKeys {
		if k.alias == "" {
			check("users."+k.name, k.supported)
		}
	}
	for _, k := range peerKeys {
		if k.alias == "" {
			check("peers."+k.name, k.supported)
		}
	}
}
