package wire

import (
	"bufio"
	"bytes"
	"slices"
	"testing"
)

func TestIntegers(t *testing.T) {
	var b []byte
	b = AppendInt16(b, -2)
	b = AppendUint16(b, 0xBEEF)
	b = AppendInt32(b, -1)
	b = AppendUint32(b, 0xDEADBEEF)
	want := []byte{0xff, 0xfe, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff, 0xde, 0xad, 0xbe, 0xef}
	if !bytes.Equal(b, want) {
		t.Fatalf("appended % x, want % x", b, want)
	}
	u16, rest, ok := Uint16(b)
	if !ok || u16 != 0xfffe || len(rest) != len(b)-2 {
		t.Fatalf("Uint16 = %#x %v", u16, ok)
	}
	i32, rest, ok := Int32(rest[2:])
	if !ok || i32 != -1 {
		t.Fatalf("Int32 = %d %v", i32, ok)
	}
	u32, rest, ok := Uint32(rest)
	if !ok || u32 != 0xDEADBEEF || len(rest) != 0 {
		t.Fatalf("Uint32 = %#x %v rest %x", u32, ok, rest)
	}
	short := []byte{1, 2, 3}
	if _, r, ok := Uint32(short); ok || !bytes.Equal(r, short) {
		t.Fatalf("Uint32 of 3 bytes: ok %v rest %x", ok, r)
	}
	if _, r, ok := Int32(short); ok || !bytes.Equal(r, short) {
		t.Fatalf("Int32 of 3 bytes: ok %v rest %x", ok, r)
	}
	if _, r, ok := Uint16(short[:1]); ok || len(r) != 1 {
		t.Fatalf("Uint16 of 1 byte: ok %v rest %x", ok, r)
	}
}

func TestAppendMessage(t *testing.T) {
	got := AppendMessage([]byte("x"), 'Q', []byte("select 1\x00"))
	want, s := AppendHeader([]byte("x"), 'Q')
	want = Finish(append(want, "select 1\x00"...), s)
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendMessage = %q, want %q", got, want)
	}
	if got := AppendMessage(nil, 'H', nil); !bytes.Equal(got, []byte{'H', 0, 0, 0, 4}) {
		t.Fatalf("empty body: %q", got)
	}
	if got := AppendSync(nil); !bytes.Equal(got, AppendMessage(nil, 'S', nil)) {
		t.Fatalf("Sync: %q", got)
	}
	if got := AppendEmptyQueryResponse(nil); !bytes.Equal(got, AppendMessage(nil, 'I', nil)) {
		t.Fatalf("EmptyQueryResponse: %q", got)
	}
}

func TestRowDescriptionAndValues(t *testing.T) {
	b := AppendField(nil, Field{Name: "n", TableOID: 1, Column: 2, TypeOID: 23, TypeSize: 4, TypeMod: -1, Format: 1})
	want := []byte{'n', 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 23, 0, 4, 0xff, 0xff, 0xff, 0xff, 0, 1}
	if !bytes.Equal(b, want) {
		t.Fatalf("field % x, want % x", b, want)
	}

	row := AppendUint16(nil, 3)
	row = AppendValue(row, "abc")
	row = AppendNull(row)
	row = AppendValue(row, "")
	n, body, _ := Uint16(row)
	if n != 3 {
		t.Fatalf("count %d", n)
	}
	type col struct {
		v    string
		null bool
	}
	var got []col
	for range n {
		v, null, rest, ok := Value(body)
		if !ok {
			t.Fatalf("Value(%x) not ok", body)
		}
		got = append(got, col{string(v), null})
		body = rest
	}
	if len(body) != 0 || !slices.Equal(got, []col{{"abc", false}, {"", true}, {"", false}}) {
		t.Fatalf("values %v, rest %x", got, body)
	}
	for _, bad := range [][]byte{
		{0, 0, 0},                // short length
		{0, 0, 0, 2, 'x'},        // longer than the data
		{0xff, 0xff, 0xff, 0xfe}, // -2
		{0x80, 0, 0, 0, 1, 2, 3}, // most negative
		{0x7f, 0xff, 0xff, 0xff}, // huge
	} {
		if v, null, rest, ok := Value(bad); ok || v != nil || null || !bytes.Equal(rest, bad) {
			t.Errorf("Value(% x) = %q %v %x %v, want not ok", bad, v, null, rest, ok)
		}
	}
}

func TestStartupPackets(t *testing.T) {
	if got := AppendSSLRequest(nil); !bytes.Equal(got, []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}) {
		t.Fatalf("SSLRequest % x", got)
	}
	got := AppendCancelRequest(nil, 0x01020304, []byte{9, 8, 7, 6})
	want := []byte{0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 1, 2, 3, 4, 9, 8, 7, 6}
	if !bytes.Equal(got, want) {
		t.Fatalf("CancelRequest % x, want % x", got, want)
	}
	code, body, _, err := ReadStartup(bytes.NewReader(got), nil)
	if err != nil || code != CancelRequestCode {
		t.Fatalf("ReadStartup: %d %v", code, err)
	}
	pid, secret, ok := ParseCancelRequest(body)
	if !ok || pid != 0x01020304 || !bytes.Equal(secret, []byte{9, 8, 7, 6}) {
		t.Fatalf("ParseCancelRequest = %#x %x %v", pid, secret, ok)
	}
	long := bytes.Repeat([]byte{1}, MaxCancelKeyLen)
	if _, s, ok := ParseCancelRequest(append([]byte{0, 0, 0, 1}, long...)); !ok || len(s) != MaxCancelKeyLen {
		t.Fatalf("a %d-byte key refused", MaxCancelKeyLen)
	}
	for _, n := range []int{0, 3, 7, 4 + MaxCancelKeyLen + 1} {
		if _, _, ok := ParseCancelRequest(make([]byte, n)); ok {
			t.Errorf("CancelRequest body of %d bytes accepted", n)
		}
	}
	if _, _, ok := ParseBackendKeyData(make([]byte, 7)); ok {
		t.Error("BackendKeyData of 7 bytes accepted")
	}
	kd := AppendBackendKeyData(nil, 42, long)
	if pid, s, ok := ParseBackendKeyData(kd[5:]); !ok || pid != 42 || !bytes.Equal(s, long) {
		t.Fatalf("BackendKeyData round trip: %d %v", pid, ok)
	}

	pkt, s := AppendStartupHeader([]byte("junk"), ProtocolVersion(3, 2))
	pkt = AppendCString(pkt, "user")
	pkt = AppendCString(pkt, "alice")
	pkt = FinishStartup(append(pkt, 0), s)
	code, body, _, err = ReadStartup(bytes.NewReader(pkt[4:]), nil)
	if err != nil || code != 3<<16|2 || string(body) != "user\x00alice\x00\x00" {
		t.Fatalf("startup round trip: %#x %q %v", code, body, err)
	}
	if major, minor := SplitProtocolVersion(code); major != 3 || minor != 2 {
		t.Fatalf("SplitProtocolVersion = %d.%d", major, minor)
	}
}

func TestNegotiateProtocolVersion(t *testing.T) {
	msg := AppendNegotiateProtocolVersion(nil, 2, []string{"_pq_.a", "_pq_.b"})
	typ, body, _, err := ReadMessage(bufio.NewReader(bytes.NewReader(msg)), nil, 1000)
	if err != nil || typ != 'v' {
		t.Fatalf("ReadMessage: %q %v", typ, err)
	}
	want := "\x00\x00\x00\x02\x00\x00\x00\x02_pq_.a\x00_pq_.b\x00"
	if string(body) != want {
		t.Fatalf("body %q, want %q", body, want)
	}
}

func TestAuth(t *testing.T) {
	if !bytes.Equal(AppendAuth(nil, AuthOK, nil), AppendAuthOK(nil)) {
		t.Fatal("AppendAuth(AuthOK) differs from AppendAuthOK")
	}
	msg := AppendAuth(nil, AuthMD5Password, []byte{1, 2, 3, 4})
	if !bytes.Equal(msg, []byte{'R', 0, 0, 0, 12, 0, 0, 0, 5, 1, 2, 3, 4}) {
		t.Fatalf("md5 request % x", msg)
	}
	code, data, ok := ParseAuth(msg[5:])
	if !ok || code != AuthMD5Password || !bytes.Equal(data, []byte{1, 2, 3, 4}) {
		t.Fatalf("ParseAuth = %d %x %v", code, data, ok)
	}
	if _, _, ok := ParseAuth([]byte{0, 0, 0}); ok {
		t.Fatal("ParseAuth of 3 bytes accepted")
	}

	msg = AppendAuthSASL(nil, []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"})
	if want := "R\x00\x00\x00\x2a\x00\x00\x00\x0aSCRAM-SHA-256-PLUS\x00SCRAM-SHA-256\x00\x00"; string(msg) != want {
		t.Fatalf("AuthenticationSASL %q, want %q", msg, want)
	}
	code, data, _ = ParseAuth(msg[5:])
	mechs, ok := ParseSASLMechanisms(data)
	if code != AuthSASL || !ok || !slices.Equal(mechs, []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}) {
		t.Fatalf("mechanisms %q %v", mechs, ok)
	}
	for list, want := range map[string][]string{
		"":           nil,
		"\x00":       nil,
		"A\x00":      {"A"}, // no terminator: the end of data ends the list
		"A\x00\x00B": {"A"},
	} {
		if got, ok := ParseSASLMechanisms([]byte(list)); !ok || !slices.Equal(got, want) {
			t.Errorf("ParseSASLMechanisms(%q) = %q %v, want %q", list, got, ok, want)
		}
	}
	if _, ok := ParseSASLMechanisms([]byte("A\x00B")); ok {
		t.Error("an unterminated mechanism name accepted")
	}
}

func TestSASLInitialResponse(t *testing.T) {
	msg := AppendSASLInitialResponse(nil, "SCRAM-SHA-256", []byte("n,,n=,r=abc"))
	if want := "p\x00\x00\x00\x21SCRAM-SHA-256\x00\x00\x00\x00\x0bn,,n=,r=abc"; string(msg) != want {
		t.Fatalf("SASLInitialResponse %q, want %q", msg, want)
	}
	mech, data, ok := ParseSASLInitialResponse(msg[5:])
	if !ok || mech != "SCRAM-SHA-256" || string(data) != "n,,n=,r=abc" {
		t.Fatalf("parsed %q %q %v", mech, data, ok)
	}
	msg = AppendSASLInitialResponse(nil, "M", nil)
	if mech, data, ok := ParseSASLInitialResponse(msg[5:]); !ok || mech != "M" || data != nil {
		t.Fatalf("no initial response: %q %q %v", mech, data, ok)
	}
	msg = AppendSASLInitialResponse(nil, "M", []byte{})
	if _, data, ok := ParseSASLInitialResponse(msg[5:]); !ok || data == nil || len(data) != 0 {
		t.Fatalf("empty initial response: %q %v", data, ok)
	}
	for _, bad := range []string{
		"",                       // no mechanism
		"M",                      // unterminated mechanism
		"M\x00\x00\x00\x00",      // short length
		"M\x00\x00\x00\x00\x02x", // length past the end
		"M\x00\x00\x00\x00\x00x", // bytes after the data
		"M\x00\xff\xff\xff\xfe",  // -2
	} {
		if m, d, ok := ParseSASLInitialResponse([]byte(bad)); ok {
			t.Errorf("ParseSASLInitialResponse(%q) = %q %q, want not ok", bad, m, d)
		}
	}
}

// FuzzValue checks that Value never reads past b, and that what it
// accepts re-encodes to the same bytes.
func FuzzValue(f *testing.F) {
	f.Add(AppendValue(nil, "abc"))
	f.Add(AppendNull([]byte{}))
	f.Add(append(AppendValue(nil, ""), 1, 2))
	f.Add([]byte{0, 0, 0, 9, 1})
	f.Add([]byte{0xff, 0xff, 0xff, 0xfe})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, null, rest, ok := Value(b)
		if !ok {
			if v != nil || null || !bytes.Equal(rest, b) {
				t.Fatalf("refused, yet v=%q null=%v rest=%x", v, null, rest)
			}
			return
		}
		var again []byte
		if null {
			if v != nil {
				t.Fatalf("NULL with value %q", v)
			}
			again = AppendNull(nil)
		} else {
			again = AppendValue(nil, string(v))
		}
		if !bytes.Equal(append(again, rest...), b) {
			t.Fatalf("re-encoded %x + %x, want %x", again, rest, b)
		}
	})
}

// FuzzCancelKey checks ParseCancelRequest and ParseBackendKeyData against
// the lengths they promise, and that accepted keys encode back to the
// same bytes.
func FuzzCancelKey(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 2, 3, 4, 5})
	f.Add(make([]byte, 4+MaxCancelKeyLen))
	f.Add(make([]byte, 5+MaxCancelKeyLen))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, body []byte) {
		pid, secret, ok := ParseCancelRequest(body)
		if want := len(body) >= 8 && len(body) <= 4+MaxCancelKeyLen; ok != want {
			t.Fatalf("CancelRequest body of %d bytes: ok %v", len(body), ok)
		}
		if ok {
			pkt := AppendCancelRequest(nil, pid, secret)
			code, got, _, err := ReadStartup(bytes.NewReader(pkt), nil)
			if err != nil || code != CancelRequestCode || !bytes.Equal(got, body) {
				t.Fatalf("CancelRequest round trip: %d %x %v", code, got, err)
			}
		}
		pid, secret, ok = ParseBackendKeyData(body)
		if ok != (len(body) >= 8) {
			t.Fatalf("BackendKeyData body of %d bytes: ok %v", len(body), ok)
		}
		if ok && !bytes.Equal(AppendBackendKeyData(nil, pid, secret)[5:], body) {
			t.Fatal("BackendKeyData round trip differs")
		}
	})
}

// FuzzSASL feeds arbitrary bodies to the authentication parsers: what
// they accept must encode back to an equivalent message.
func FuzzSASL(f *testing.F) {
	f.Add(AppendAuthSASL(nil, []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"})[5:])
	f.Add(AppendSASLInitialResponse(nil, "SCRAM-SHA-256", []byte("n,,n=,r=x"))[5:])
	f.Add(AppendSASLInitialResponse(nil, "SCRAM-SHA-256", nil)[5:])
	f.Add([]byte("A\x00B"))
	f.Add([]byte{0, 0, 0})
	f.Fuzz(func(t *testing.T, body []byte) {
		if code, data, ok := ParseAuth(body); ok {
			if !bytes.Equal(AppendAuth(nil, code, data)[5:], body) {
				t.Fatal("ParseAuth round trip differs")
			}
		} else if len(body) >= 4 {
			t.Fatalf("ParseAuth refused %d bytes", len(body))
		}

		if mechs, ok := ParseSASLMechanisms(body); ok {
			for _, m := range mechs {
				if m == "" || bytes.IndexByte([]byte(m), 0) >= 0 {
					t.Fatalf("mechanism %q", m)
				}
			}
			again, ok := ParseSASLMechanisms(AppendAuthSASL(nil, mechs)[9:])
			if !ok || !slices.Equal(again, mechs) {
				t.Fatalf("mechanisms %q came back as %q", mechs, again)
			}
		}

		if mech, data, ok := ParseSASLInitialResponse(body); ok {
			msg := AppendSASLInitialResponse(nil, mech, data)
			m2, d2, ok := ParseSASLInitialResponse(msg[5:])
			if !ok || m2 != mech || !bytes.Equal(d2, data) || (d2 == nil) != (data == nil) {
				t.Fatalf("initial response %q %q came back as %q %q %v", mech, data, m2, d2, ok)
			}
			if data != nil && !bytes.Equal(msg[5:], body) {
				t.Fatalf("re-encoded %q, want %q", msg[5:], body)
			}
		}
	})
}
