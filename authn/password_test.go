package authn

import (
	"crypto/md5"
	"encoding/hex"
	"testing"
)

// md5Answer computes a client's md5 answer independently of the package:
// "md5" + hex(md5(hex(md5(password + user)) + salt)).
func md5Answer(user, password string, salt [4]byte) string {
	inner := md5.Sum([]byte(password + user))
	outer := md5.Sum(append([]byte(hex.EncodeToString(inner[:])), salt[:]...))
	return "md5" + hex.EncodeToString(outer[:])
}

func TestVerifyMD5(t *testing.T) {
	salt := [4]byte{1, 2, 3, 0xff}
	good := md5Answer(pgMD5User, pgPassword, salt)
	tests := []struct {
		name     string
		sec      Secret
		response string
		want     bool
	}{
		{"postgres md5 secret", ParseSecret(pgMD5), good, true},
		{"plaintext secret", ParseSecret(pgPassword), good, true},
		{"wrong password", ParseSecret(pgMD5), md5Answer(pgMD5User, "nope", salt), false},
		{"other salt", ParseSecret(pgMD5), md5Answer(pgMD5User, pgPassword, [4]byte{}), false},
		{"uppercase answer", ParseSecret(pgMD5), "MD5" + good[3:], false},
		{"truncated answer", ParseSecret(pgMD5), good[:34], false},
		{"empty answer", ParseSecret(pgMD5), "", false},
		{"scram secret", ParseSecret(pgSecret), good, false},
		{"empty plaintext", ParseSecret(""), md5Answer(pgMD5User, "", salt), false},
		{"zero secret", Secret{}, good, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VerifyMD5(pgMD5User, tt.sec, salt, tt.response); got != tt.want {
				t.Fatalf("VerifyMD5 = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestVerifyPassword(t *testing.T) {
	tests := []struct {
		name     string
		user     string
		sec      Secret
		password string
		want     bool
	}{
		{"plaintext", "u", ParseSecret("s3cret"), "s3cret", true},
		{"plaintext wrong", "u", ParseSecret("s3cret"), "s3cret ", false},
		{"plaintext prefix", "u", ParseSecret("s3cret"), "s3c", false},
		{"md5", pgMD5User, ParseSecret(pgMD5), pgPassword, true},
		{"md5 wrong user", "other", ParseSecret(pgMD5), pgPassword, false},
		{"md5 hash as password", pgMD5User, ParseSecret(pgMD5), pgMD5, false},
		{"scram", "u", ParseSecret(pgSecret), pgPassword, true},
		{"scram wrong", "u", ParseSecret(pgSecret), "Pencil", false},
		{"scram unusable", "u", ParseSecret("SCRAM-SHA-256$0:" + pgSecret[len("SCRAM-SHA-256$4096:"):]), pgPassword, false},
		{"empty password", "u", ParseSecret(""), "", false},
		{"zero secret", "u", Secret{}, "x", false},
	}
	for _, tc := range pgSCRAMSecrets {
		tests = append(tests, struct {
			name     string
			user     string
			sec      Secret
			password string
			want     bool
		}{"postgres " + tc.name, "u", ParseSecret(tc.secret), tc.password, true})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VerifyPassword(tt.user, tt.sec, tt.password); got != tt.want {
				t.Fatalf("VerifyPassword = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMD5Response(t *testing.T) {
	salt := NewMD5Salt()
	want := md5Answer(pgMD5User, pgPassword, salt)
	for name, cred := range map[string]ServerCredentials{
		"password":           {Password: pgPassword},
		"md5":                {MD5: pgMD5},
		"password preferred": {Password: pgPassword, MD5: MD5Secret(pgMD5User, "other")},
	} {
		got, err := MD5Response(pgMD5User, cred, salt)
		if err != nil || got != want {
			t.Fatalf("%s: %q, %v; want %q", name, got, err, want)
		}
		if !VerifyMD5(pgMD5User, ParseSecret(pgMD5), salt, got) {
			t.Fatalf("%s: VerifyMD5 rejects MD5Response", name)
		}
	}
	if _, err := MD5Response("u", ServerCredentials{}, salt); err == nil {
		t.Fatal("no credentials accepted")
	}
	if _, err := MD5Response("u", ServerCredentials{MD5: "md5XYZ"}, salt); err == nil {
		t.Fatal("malformed md5 hash accepted")
	}
}

func TestNewMD5Salt(t *testing.T) {
	seen := map[[4]byte]bool{}
	for range 8 {
		seen[NewMD5Salt()] = true
	}
	// Eight 32-bit random values collide with probability below 1e-8.
	if len(seen) != 8 {
		t.Fatalf("salts repeat: %v", seen)
	}
}
