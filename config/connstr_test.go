package config

import (
	"reflect"
	"strings"
	"testing"
)

func kv(pairs ...string) [][2]string {
	var out [][2]string
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, [2]string{pairs[i], pairs[i+1]})
	}
	return out
}

func flatten(ps []connParam) [][2]string {
	var out [][2]string
	for _, p := range ps {
		out = append(out, [2]string{p.key, p.value})
	}
	return out
}

func TestParseConnString(t *testing.T) {
	cases := []struct {
		in   string
		want [][2]string
	}{
		{"", nil},
		{"   ", nil},
		{"host=db", kv("host", "db")},
		{"host=db port=5433", kv("host", "db", "port", "5433")},
		{"  host = db   port =5433 ", kv("host", "db", "port", "5433")},
		{"host=db\tport=1", kv("host", "db", "port", "1")},
		{"password=pa#ss;word", kv("password", "pa#ss;word")},
		{"password='s3cr3t pa''ss'", kv("password", "s3cr3t pa'ss")},
		{"dbname='''quoted'''", kv("dbname", "'quoted'")},
		{"q='SELECT 1 = 1' x=y", kv("q", "SELECT 1 = 1", "x", "y")},
		{"application_name=a=b", kv("application_name", "a=b")},
		{"host= db", kv("host", "db")}, // PgBouncer skips spaces after '='
		{"host=a,b,c", kv("host", "a,b,c")},
	}
	for _, c := range cases {
		got, err := parseConnString(c.in)
		if err != nil {
			t.Errorf("parseConnString(%q): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(flatten(got), c.want) {
			t.Errorf("parseConnString(%q) = %q, want %q", c.in, flatten(got), c.want)
		}
	}
}

func TestParseConnStringErrors(t *testing.T) {
	for in, want := range map[string]string{
		"=x":                  `missing parameter name`,
		"host":                `expected "=" after "host"`,
		"host db":             `expected "=" after "host"`,
		"host=":               `empty value for "host"`,
		"host=''":             `empty value for "host"`,
		"host= port=5432":     `empty value for "host" (what follows`,
		"password='abc":       `quoted value of "password" has no closing quote`,
		"password='a''":       `has no closing quote`,
		"dbname='a'b":         `text right after the closing quote of "dbname"`,
		"password='hunter2'x": `closing quote of "password"`,
	} {
		_, err := parseConnString(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseConnString(%q) error = %v, want it to contain %q", in, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("parseConnString(%q) error echoes a value: %v", in, err)
		}
	}
}

func TestQuoteConnValueRoundTrips(t *testing.T) {
	for _, v := range []string{"plain", "with space", "it's", "''", "tab\there", "a=b", "trailing\v", "x'", "#;"} {
		q := quoteConnValue(v)
		got, err := parseConnString("k=" + q + " next=1")
		if err != nil || len(got) != 2 || got[0].value != v {
			t.Errorf("quoteConnValue(%q) = %q, read back as %v, %v", v, q, flatten(got), err)
		}
	}
}

func TestRedactRaw(t *testing.T) {
	in := "host=db password='a b' user=u password=plain"
	params, err := parseConnString(in)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := redactRaw(in, params), "host=db password=*** user=u password=***"; got != want {
		t.Errorf("redactRaw = %q, want %q", got, want)
	}
}
