package config

import (
	"bufio"
	"os"
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

func TestImplementedKeysExist(t *testing.T) {
	entryKeys := map[string][]string{"databases": databaseKeys, "users": userKeys, "peers": peerKeys}
	for key := range implemented {
		section, name, qualified := strings.Cut(key, ".")
		if !qualified {
			if _, ok := settingByName[key]; !ok {
				t.Errorf("implemented key %q is not a [pgbouncer] setting", key)
			}
			continue
		}
		found := false
		for _, k := range entryKeys[section] {
			found = found || k == name
		}
		if !found {
			t.Errorf("implemented key %q is not a [%s] key", key, section)
		}
	}
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
	check := func(key string, isImplemented bool) {
		st, ok := status[key]
		switch {
		case !ok:
			t.Errorf("docs: no entry for %s", key)
		case isImplemented && !strings.HasPrefix(st, "supported"):
			t.Errorf("docs: %s is implemented but its status is %q", key, st)
		case !isImplemented && !strings.HasPrefix(st, "accepted, not yet acted on"):
			t.Errorf("docs: %s is not implemented but its status is %q", key, st)
		}
	}
	for _, s := range settings {
		check(s.name, implemented[canonicalName(&s)])
	}
	for section, keys := range map[string][]string{"databases": databaseKeys, "users": userKeys, "peers": peerKeys} {
		for _, k := range keys {
			if k == "reserve_pool" {
				continue // documented under reserve_pool_size
			}
			check(section+"."+k, implemented[section+"."+k])
		}
	}
}
