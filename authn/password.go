package authn

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
)

// NewMD5Salt returns a random salt for an AuthenticationMD5Password request.
func NewMD5Salt() [4]byte {
	var salt [4]byte
	_, _ = rand.Read(salt[:]) // never fails: crypto/rand.Read crashes the program instead
	return salt
}

// VerifyMD5 checks a client's answer to an md5 challenge with salt:
// "md5" + hex(md5(hex(md5(password + user)) + salt)), as PostgreSQL
// computes it. sec must be a plaintext password or an md5 hash; a SCRAM
// secret cannot verify md5 (PostgreSQL switches such users to SCRAM) and
// yields false, as do an empty password and the zero Secret. The comparison
// runs in constant time.
func VerifyMD5(user string, sec Secret, salt [4]byte, response string) bool {
	var hexHash string
	switch sec.Kind {
	case SecretPlain:
		pw, ok := sec.plaintext()
		if !ok {
			return false
		}
		hexHash = MD5Secret(user, pw)[len("md5"):]
	case SecretMD5:
		var ok bool
		if hexHash, ok = sec.md5Hex(); !ok {
			return false
		}
	default:
		return false
	}
	want := md5Salted(hexHash, salt)
	return subtle.ConstantTimeCompare([]byte(want), []byte(response)) == 1
}

// VerifyPassword checks a password a client sent in cleartext against a
// stored secret: equality for a plaintext secret, md5(password + user) for
// an md5 hash, and for a SCRAM secret a PBKDF2 derivation with its salt and
// iteration count whose StoredKey must match. Comparisons run in constant
// time. An empty password never verifies, as in PostgreSQL.
func VerifyPassword(user string, sec Secret, password string) bool {
	if password == "" {
		return false
	}
	switch sec.Kind {
	case SecretPlain:
		stored, ok := sec.plaintext()
		if !ok {
			return false
		}
		// Hash both sides so that the comparison does not reveal the length.
		a, b := sha256.Sum256([]byte(stored)), sha256.Sum256([]byte(password))
		return subtle.ConstantTimeCompare(a[:], b[:]) == 1
	case SecretMD5:
		hexHash, ok := sec.md5Hex()
		if !ok {
			return false
		}
		got := MD5Secret(user, password)[len("md5"):]
		return subtle.ConstantTimeCompare([]byte(got), []byte(hexHash)) == 1
	case SecretSCRAM:
		sc, _ := sec.SCRAM()
		if !sc.usable() {
			return false
		}
		keys, err := deriveKeys(password, sc.Salt, sc.Iterations)
		if err != nil {
			return false
		}
		return subtle.ConstantTimeCompare(keys.storedKey, sc.StoredKey) == 1
	default:
		return false
	}
}

// MD5Response answers a server's md5 challenge for user, from
// cred.Password when set, else from the stored md5 hash cred.MD5.
func MD5Response(user string, cred ServerCredentials, salt [4]byte) (string, error) {
	switch {
	case cred.Password != "":
		return md5Salted(MD5Secret(user, cred.Password)[len("md5"):], salt), nil
	case cred.MD5 != "":
		if !isMD5Hash(cred.MD5) {
			return "", errors.New("md5 login: stored md5 credential is not an md5 hash")
		}
		return md5Salted(cred.MD5[len("md5"):], salt), nil
	default:
		return "", errors.New("md5 login: no password or md5 hash")
	}
}

// md5Salted is "md5" + hex(md5(hexHash + salt)).
func md5Salted(hexHash string, salt [4]byte) string {
	h := md5.New()
	h.Write([]byte(hexHash))
	h.Write(salt[:])
	return "md5" + hex.EncodeToString(h.Sum(nil))
}
