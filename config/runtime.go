package config

import (
	"fmt"
	"sort"
	"strings"
)

// Setting is one [pgbouncer] key as a running process shows it.
type Setting struct {
	Key, Value, Default string
	Reloadable          bool
}

// Settings lists every [pgbouncer] key of c with its effective value
// (secrets redacted), its default and whether it can change at run time,
// sorted by key (SHOW CONFIG).
func Settings(c *Config) []Setting {
	var out []Setting
	for i := range settings {
		s := &settings[i]
		if s.alias != "" {
			continue
		}
		out = append(out, Setting{Key: s.name, Value: s.effective(&c.General), Default: s.def, Reloadable: !s.noReload})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// With returns a copy of c with one [pgbouncer] key set to value, checked
// like a line of the file and the whole result validated (SET key = value
// on the console). Keys that cannot change at run time are refused.
func With(c *Config, key, value string) (*Config, error) {
	key = strings.ToLower(strings.TrimSpace(key))
	s, ok := settingByName[key]
	if !ok {
		return nil, fmt.Errorf("unknown setting %q", key)
	}
	if s.alias != "" {
		s = settingByName[s.alias]
	}
	if s.noReload {
		return nil, fmt.Errorf("%s cannot be changed at run time: restart pgbun", s.name)
	}
	next := *c
	if err := s.parse(&next.General, value); err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	p := &parser{cfg: &next, main: "SET", set: map[string]loc{}}
	if err := p.validate(); err != nil {
		return nil, err
	}
	return &next, nil
}

// KeepUnreloadable copies into next the values of keys that cannot change
// at run time from running, and returns the keys whose new value was so
// set aside: a reload applies everything else and says which changes wait
// for a restart.
func KeepUnreloadable(running, next *Config) []string {
	var held []string
	for i := range settings {
		s := &settings[i]
		if s.alias != "" || !s.noReload {
			continue
		}
		old := s.fmt(&running.General)
		if s.fmt(&next.General) == old {
			continue
		}
		if err := s.parse(&next.General, old); err == nil {
			held = append(held, s.name)
		}
	}
	sort.Strings(held)
	return held
}
