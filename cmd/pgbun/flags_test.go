package main

import "testing"

func TestParseArgs(t *testing.T) {
	cases := []struct {
		args []string
		want options
		err  bool
	}{
		{args: nil, want: options{}},
		{args: []string{"-d", "-v", "pgbouncer.ini"}, want: options{daemon: true, verbose: 1, config: "pgbouncer.ini"}},
		{args: []string{"-dvv", "x.ini"}, want: options{daemon: true, verbose: 2, config: "x.ini"}},
		{args: []string{"-upostgres", "-q"}, want: options{user: "postgres", quiet: true}},
		{args: []string{"-u", "postgres"}, want: options{user: "postgres"}},
		{args: []string{"--user=pg", "--verbose", "--verbose", "--daemon"}, want: options{user: "pg", verbose: 2, daemon: true}},
		{args: []string{"--user", "pg", "--", "-weird.ini"}, want: options{user: "pg", config: "-weird.ini"}},
		{args: []string{"-V"}, want: options{version: true}},
		{args: []string{"--help"}, want: options{help: true}},
		{args: []string{"-x"}, err: true},
		{args: []string{"-u"}, err: true},
		{args: []string{"--bogus"}, err: true},
		{args: []string{"--quiet=1"}, err: true},
		{args: []string{"a.ini", "b.ini"}, err: true},
		{args: []string{"-R", "a.ini"}, want: options{reboot: true, config: "a.ini"}},
		{args: []string{"--reboot", "-d", "a.ini"}, want: options{reboot: true, daemon: true, config: "a.ini"}},
	}
	for _, c := range cases {
		got, err := parseArgs(c.args)
		if (err != nil) != c.err {
			t.Errorf("%q: err = %v, want error %v", c.args, err, c.err)
			continue
		}
		if err == nil && got != c.want {
			t.Errorf("%q: got %+v, want %+v", c.args, got, c.want)
		}
	}
}
