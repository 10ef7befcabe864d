package policy

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// files is a readFile for tests: a fixed set of @files.
func files(m map[string]string) func(string) ([]byte, error) {
	return func(path string) ([]byte, error) {
		s, ok := m[path]
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
		}
		return []byte(s), nil
	}
}

func prefix(s string) *netip.Prefix {
	p := netip.MustParsePrefix(s)
	return &p
}

func TestParseHBAGood(t *testing.T) {
	inc := files(map[string]string{
		"conf/users.txt":     "# admins\nalice, bob\n carol  \"dave smith\" # trailing\n@more/ops.txt\n",
		"conf/more/ops.txt":  "eve\r\n",
		"conf/dbs.txt":       "all\n",
		"/abs/databases.txt": "sameuser replication\n",
	})
	tests := []struct {
		name string
		line string
		want Rule
	}{
		{"local trust", "local all all trust",
			Rule{Type: Local, Databases: []string{"all"}, Users: []string{"all"}, Method: MethodTrust}},
		{"host cidr v4", "host all all 10.0.0.0/8 md5",
			Rule{Type: Host, Databases: []string{"all"}, Users: []string{"all"}, Addr: prefix("10.0.0.0/8"), Method: MethodMD5}},
		{"netmask column and comment", "hostssl db1 alice 192.168.1.0 255.255.255.0 scram-sha-256 # office",
			Rule{Type: HostSSL, Databases: []string{"db1"}, Users: []string{"alice"}, Addr: prefix("192.168.1.0/24"), Method: MethodSCRAM}},
		{"v6 netmask column", "host all all 2001:db8:: ffff:ffff:: trust",
			Rule{Type: Host, Databases: []string{"all"}, Users: []string{"all"}, Addr: prefix("2001:db8::/32"), Method: MethodTrust}},
		{"hostnossl sameuser v6", "hostnossl sameuser all ::1/128 password",
			Rule{Type: HostNoSSL, Databases: []string{"sameuser"}, Users: []string{"all"}, Addr: prefix("::1/128"), Method: MethodPassword}},
		{"replication and reject", "host replication repl all reject",
			Rule{Type: Host, Databases: []string{"replication"}, Users: []string{"repl"}, Method: MethodReject}},
		{"cert with options", "hostssl all all 0.0.0.0/0 cert map=certmap clientcert=verify-full",
			Rule{Type: HostSSL, Databases: []string{"all"}, Users: []string{"all"}, Addr: prefix("0.0.0.0/0"), Method: MethodCert,
				Options: map[string]string{"map": "certmap", "clientcert": "verify-full"}}},
		{"cert on a host line, as PgBouncer accepts", "host all all 19.0.0.0/8 cert",
			Rule{Type: Host, Databases: []string{"all"}, Users: []string{"all"}, Addr: prefix("19.0.0.0/8"), Method: MethodCert}},
		{"peer with map", "local all all peer map=osmap",
			Rule{Type: Local, Databases: []string{"all"}, Users: []string{"all"}, Method: MethodPeer, Options: map[string]string{"map": "osmap"}}},
		{"quoted option value", `local all all peer map="my map"`,
			Rule{Type: Local, Databases: []string{"all"}, Users: []string{"all"}, Method: MethodPeer, Options: map[string]string{"map": "my map"}}},
		{"clientcert verify-ca on md5", "hostssl all all all md5 clientcert=verify-ca",
			Rule{Type: HostSSL, Databases: []string{"all"}, Users: []string{"all"}, Method: MethodMD5, Options: map[string]string{"clientcert": "verify-ca"}}},
		{"quoted names", `host "my db" "quoted""user" 2001:db8::/32 trust`,
			Rule{Type: Host, Databases: []string{"my db"}, Users: []string{`quoted"user`}, Addr: prefix("2001:db8::/32"), Method: MethodTrust}},
		{"quoted keywords are names", `host "all","sameuser","+x" "all","@f" all trust`,
			Rule{Type: Host, Databases: []string{`"all"`, `"sameuser"`, `"+x"`}, Users: []string{`"all"`, `"@f"`}, Method: MethodTrust}},
		{"mixed quoting joins", `host a"b c"d all all trust`,
			Rule{Type: Host, Databases: []string{"ab cd"}, Users: []string{"all"}, Method: MethodTrust}},
		{"mapped v4 range", "host all all ::ffff:10.0.0.0/104 trust",
			Rule{Type: Host, Databases: []string{"all"}, Users: []string{"all"}, Addr: prefix("10.0.0.0/8"), Method: MethodTrust}},
		{"comment glued to method", "host all all all md5#no space",
			Rule{Type: Host, Databases: []string{"all"}, Users: []string{"all"}, Method: MethodMD5}},
		{"spaces around commas", "host db1 , db2,db3 alice ,bob 1.2.3.4/32 trust",
			Rule{Type: Host, Databases: []string{"db1", "db2", "db3"}, Users: []string{"alice", "bob"}, Addr: prefix("1.2.3.4/32"), Method: MethodTrust}},
		{"CRLF and tabs", "host\tall\tall\t1.2.3.4/32\tmd5\r",
			Rule{Type: Host, Databases: []string{"all"}, Users: []string{"all"}, Addr: prefix("1.2.3.4/32"), Method: MethodMD5}},
		{"@file users nested", "host all @users.txt all md5",
			Rule{Type: Host, Databases: []string{"all"}, Users: []string{"alice", "bob", "carol", "dave smith", "eve"}, Method: MethodMD5}},
		{"@file keywords and absolute path", "host @dbs.txt,@/abs/databases.txt,x all all md5",
			Rule{Type: Host, Databases: []string{"all", "sameuser", "replication", "x"}, Users: []string{"all"}, Method: MethodMD5}},
		{"@ inside quotes is a name", `host "@dbs.txt" all all md5`,
			Rule{Type: Host, Databases: []string{`"@dbs.txt"`}, Users: []string{"all"}, Method: MethodMD5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseHBA("conf/hba.conf", []byte("# header\n\n"+tc.line+"\n"), inc)
			if err != nil {
				t.Fatalf("ParseHBA: %v", err)
			}
			if len(h.Rules) != 1 {
				t.Fatalf("got %d rules, want 1", len(h.Rules))
			}
			got := h.Rules[0]
			if got.File != "conf/hba.conf" || got.Line != 3 {
				t.Errorf("position %s:%d, want conf/hba.conf:3", got.File, got.Line)
			}
			got.File, got.Line, got.db, got.user = "", 0, nil, nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if (got.Addr == nil) != (tc.want.Addr == nil) || got.Addr != nil && *got.Addr != *tc.want.Addr {
				t.Errorf("addr %v, want %v", got.Addr, tc.want.Addr)
			}
		})
	}
}

func TestParseHBABad(t *testing.T) {
	inc := files(map[string]string{
		"conf/loop.txt": "@loop.txt\n",
		"conf/bad.txt":  "alice\n\"bob\n",
		"conf/grp.txt":  "+admins\n",
	})
	tests := []struct {
		line string
		want string // error text after "conf/hba.conf:2: " unless it starts with "conf/"
	}{
		{"hots all all 1.2.3.4/32 md5", `unknown connection type "hots" (want local, host, hostssl or hostnossl)`},
		{`"host" all all all md5`, `unknown connection type "host" (want local, host, hostssl or hostnossl)`},
		{"host,local all all all md5", "connection type must be a single value, not a comma list"},
		{"hostgssenc all all all md5", `connection type "hostgssenc" is not supported: pgbun has no GSSAPI encryption`},
		{"include other.conf", "include directives are not supported (PgBouncer does not support them either)"},
		{"local", "missing database field"},
		{"local all", "missing user field"},
		{"host all all", "missing address field"},
		{"host all all 1.2.3.4/32", "missing authentication method"},
		{"local all all", "missing authentication method"},
		{"host all all samehost md5", "address keyword samehost is not supported (PgBouncer does not support it either)"},
		{"host all all samenet md5", "address keyword samenet is not supported (PgBouncer does not support it either)"},
		{"host all all db.example.com md5", `host name "db.example.com": host names and domain suffixes are not supported, use an IP address range`},
		{"host all all .example.com md5", `host name ".example.com": host names and domain suffixes are not supported, use an IP address range`},
		{"host all all 1.2.3.4.5/32 md5", `invalid IP address "1.2.3.4.5"`},
		{"host all all 1:2:3/64 md5", `invalid IP address "1:2:3"`},
		{`host all all "10.0.0.0/8" md5`, `address "10.0.0.0/8" must not be quoted`},
		{"host all all 1.2.3.4/33 md5", `invalid prefix length "33" in address 1.2.3.4/33`},
		{"host all all 1.2.3.4/ md5", `invalid prefix length "" in address 1.2.3.4/`},
		{"host all all ::/129 md5", `invalid prefix length "129" in address ::/129`},
		{"host all all 10.0.0.0 255.0.255.0 md5", "netmask 255.0.255.0 is not contiguous"},
		{"host all all 10.0.0.0 ffff:: md5", "netmask ffff:: does not match the address family of 10.0.0.0"},
		{"host all all 10.0.0.0 md5", `address 10.0.0.0 needs a /length or a netmask field, got "md5"`},
		{"host all all 10.0.0.0", "address 10.0.0.0 needs a /length or a netmask field"},
		{"host all all 10.0.0.0 255.0.0.0,255.255.0.0 md5", "netmask must be a single value, not a comma list"},
		{"host all all fe80::1%eth0/64 md5", "address fe80::1%eth0: IPv6 zones are not supported"},
		{"host all all 1.2.3.4/32 ident", `authentication method "ident" is not supported (use trust, reject, md5, password, scram-sha-256, cert or peer)`},
		{"host all all 1.2.3.4/32 ldap ldapserver=x", `authentication method "ldap" is not supported (use trust, reject, md5, password, scram-sha-256, cert or peer)`},
		{"local all all pam", `authentication method "pam" is not supported (use trust, reject, md5, password, scram-sha-256, cert or peer)`},
		{"host all all 1.2.3.4/32 foo", `unknown authentication method "foo"`},
		{`host all all all "md5"`, `authentication method "md5" must not be quoted`},
		{"hostnossl all all 1.2.3.4/32 cert", "cert authentication is only supported on hostssl and host lines"},
		{"host all all 1.2.3.4/32 peer", "peer authentication is only supported on local lines"},
		{"host all all all md5 map=x", "map is only supported with cert and peer authentication"},
		{"local all all peer map=", "map needs a map name"},
		{"local all all peer map=a map=b", "option map given twice"},
		{"hostssl all all all cert foo=bar", `unknown option "foo"`},
		{"hostssl all all all cert map", `option "map" is not of the form name=value`},
		{"hostssl all all all cert =x", `option "=x" is not of the form name=value`},
		{"hostssl all all all cert map=a,b", "option must be a single value, not a comma list"},
		{`host all all 1.2.3.4/32 md5 \`, `line continuation with \ is not supported`},
		{"host all all all md5 clientcert=verify-full", "clientcert is only valid on hostssl lines"},
		{"hostssl all all all md5 clientcert=1", `invalid clientcert value "1" (want verify-ca or verify-full)`},
		{"hostssl all all all cert clientcert=verify-ca", "clientcert=verify-ca cannot be combined with cert authentication, which always verifies the full certificate"},
		{"host all +admins all md5", "group membership (+admins) is not supported: pgbun does not know role membership"},
		{"host +db all all md5", "database name +db must be quoted (a leading + means a group)"},
		{"host samerole all all md5", "samerole is not supported: pgbun does not know role membership"},
		{"host samegroup all all md5", "samegroup is not supported: pgbun does not know role membership"},
		{"host all replication all md5", `replication is only valid in the database field (quote it to name a user "replication")`},
		{"host all sameuser all md5", `sameuser is only valid in the database field (quote it to name a user "sameuser")`},
		{`host "" all all md5`, "empty database name"},
		{`host all "" all md5`, "empty user name"},
		{`host all "alice all md5`, "unterminated quoted string"},
		{"host db1,,db2 all all md5", "empty element in a comma list"},
		{"host db1, # c\n", "list ends with a comma"},
		{",host all all all md5", "list starts with a comma"},
		{"host ,db1 all all md5", "connection type must be a single value, not a comma list"},
		{"host @ all all md5", "@ must be followed by a file name"},
		{"host all @loop.txt all md5", "conf/loop.txt:1: @loop.txt: @file lists nested more than 10 deep (an include cycle?)"},
		{"host all @bad.txt all md5", "conf/bad.txt:2: unterminated quoted string (in @bad.txt, used at conf/hba.conf:2)"},
		{"host all @grp.txt all md5", "conf/grp.txt:1: group membership (+admins) is not supported: pgbun does not know role membership"},
		{"host all @missing.txt all md5", "read @missing.txt: open conf/missing.txt: file does not exist"},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			_, err := ParseHBA("conf/hba.conf", []byte("local all all trust\n"+tc.line+"\nlocal all all reject\n"), inc)
			if err == nil {
				t.Fatal("ParseHBA succeeded")
			}
			want := tc.want
			if !strings.HasPrefix(want, "conf/") {
				want = "conf/hba.conf:2: " + want
			}
			if err.Error() != want {
				t.Errorf("error\n got %q\nwant %q", err, want)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ParseError", err)
			}
		})
	}
}

func TestParseHBAIncludeErrors(t *testing.T) {
	_, err := ParseHBA("hba.conf", []byte("host all @u.txt all md5\n"), files(nil))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing @file: %v does not wrap fs.ErrNotExist", err)
	}
	_, err = ParseHBA("hba.conf", []byte("host all @u.txt all md5\n"), nil)
	if err == nil || err.Error() != "hba.conf:1: @u.txt: @file lists are not available here" {
		t.Errorf("without readFile: %v", err)
	}
}

func TestParseHBAEmpty(t *testing.T) {
	h, err := ParseHBA("hba.conf", []byte("# nothing\n\n   \t\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Rules) != 0 {
		t.Errorf("got %d rules", len(h.Rules))
	}
	if r, ok := h.Match(Request{Local: true, Database: "db", User: "u"}); ok || r != nil {
		t.Error("an empty file matched a request")
	}
}

func TestLoadHBA(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/sub/hba.conf", "hostssl all @admins.txt 10.0.0.0/8 scram-sha-256\n")
	writeFile(t, dir+"/sub/admins.txt", "alice bob\n")
	h, err := LoadHBA(dir + "/sub/hba.conf")
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Rules[0].Users; !reflect.DeepEqual(got, []string{"alice", "bob"}) {
		t.Errorf("users %q", got)
	}
	if _, err := LoadHBA(dir + "/nope.conf"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := LoadHBA(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
