package wire

import "testing"

func TestParseParameterStatus(t *testing.T) {
	msg := AppendParameterStatus(nil, "TimeZone", "Europe/Paris")
	name, value, ok := ParseParameterStatus(msg[5:])
	if !ok || name != "TimeZone" || value != "Europe/Paris" {
		t.Fatalf("round trip: %q %q %v", name, value, ok)
	}
	for _, body := range []string{"", "TimeZone", "TimeZone\x00UTC"} {
		if n, v, ok := ParseParameterStatus([]byte(body)); ok {
			t.Errorf("%q: parsed as %q=%q, want not ok", body, n, v)
		}
	}
}
