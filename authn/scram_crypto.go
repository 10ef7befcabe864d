package authn

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"unicode/utf8"

	"github.com/xdg-go/stringprep"
)

const (
	scramKeyLen       = sha256.Size // StoredKey, ServerKey, ClientKey, proofs
	defaultIterations = 4096        // PostgreSQL's scram_iterations default
	defaultSaltLen    = 16          // PostgreSQL's SCRAM_DEFAULT_SALT_LEN
	rawNonceLen       = 18          // PostgreSQL's SCRAM_RAW_NONCE_LEN
	// maxSCRAMMessage bounds every SCRAM message pgbun parses; real ones
	// are a few hundred bytes.
	maxSCRAMMessage = 8 << 10
)

// derivedKeys are the keys PBKDF2 yields for one password, salt and
// iteration count.
type derivedKeys struct {
	clientKey, storedKey, serverKey []byte
}

// deriveKeys runs PBKDF2-HMAC-SHA-256 over the SASLprepped password and
// derives ClientKey, StoredKey and ServerKey (RFC 5802 section 3).
func deriveKeys(password string, salt []byte, iterations int) (derivedKeys, error) {
	salted, err := pbkdf2.Key(sha256.New, saslPrep(password), salt, iterations, scramKeyLen)
	if err != nil {
		return derivedKeys{}, fmt.Errorf("derive SCRAM keys: %w", err)
	}
	ck := hmacSHA256(salted, "Client Key")
	sk := sha256.Sum256(ck)
	return derivedKeys{clientKey: ck, storedKey: sk[:], serverKey: hmacSHA256(salted, "Server Key")}, nil
}

func hmacSHA256(key []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

// authMessage is RFC 5802's AuthMessage.
func authMessage(clientFirstBare, serverFirst, clientFinalWithoutProof string) string {
	return clientFirstBare + "," + serverFirst + "," + clientFinalWithoutProof
}

// xorKey returns a XOR b for two scramKeyLen slices.
func xorKey(a, b []byte) []byte {
	out := make([]byte, scramKeyLen)
	subtle.XORBytes(out, a, b)
	return out
}

// saslPrep prepares a password exactly as PostgreSQL's pg_saslprep
// (src/common/saslprep.c) does, returning the raw password wherever
// PostgreSQL falls back to raw bytes: pure ASCII is used unchanged, invalid
// UTF-8 and strings that map to nothing or contain prohibited, unassigned
// or badly mixed bidirectional characters are used raw. Otherwise non-ASCII
// spaces map to ' ' (checked before "map to nothing", which matters for
// U+200B, listed in both tables), then the result is NFKC-normalized. Like
// PostgreSQL, the prohibition and bidi checks look at the mapped string
// before normalization.
func saslPrep(password string) string {
	if isASCII(password) || !utf8.ValidString(password) {
		return password
	}
	mapped := make([]rune, 0, len(password))
	for _, r := range password {
		switch {
		case stringprep.TableC1_2.Contains(r):
			mapped = append(mapped, ' ')
		case mappedToNothing(r):
		default:
			mapped = append(mapped, r)
		}
	}
	if len(mapped) == 0 {
		return password
	}
	hasRandAL := false
	for _, r := range mapped {
		if saslProhibited(r) {
			return password
		}
		if stringprep.TableD1.Contains(r) {
			hasRandAL = true
		}
	}
	if hasRandAL {
		for _, r := range mapped {
			if stringprep.TableD2.Contains(r) {
				return password
			}
		}
		if !stringprep.TableD1.Contains(mapped[0]) || !stringprep.TableD1.Contains(mapped[len(mapped)-1]) {
			return password
		}
	}
	out, err := nfkc.Prepare(string(mapped))
	if err != nil {
		return password
	}
	return out
}

// nfkc only normalizes: no mappings, no prohibitions.
var nfkc = stringprep.Profile{Normalize: true}

func mappedToNothing(r rune) bool {
	_, ok := stringprep.TableB1[r]
	return ok
}

// saslProhibited is SASLprep's prohibited output (RFC 4013 section 2.3)
// plus unassigned code points (table A.1), as pg_saslprep checks them.
func saslProhibited(r rune) bool {
	for _, set := range prohibitedSets {
		if set.Contains(r) {
			return true
		}
	}
	return false
}

var prohibitedSets = []stringprep.Set{
	stringprep.TableA1, stringprep.TableC1_2, stringprep.TableC2_1, stringprep.TableC2_2,
	stringprep.TableC3, stringprep.TableC4, stringprep.TableC5, stringprep.TableC6,
	stringprep.TableC7, stringprep.TableC8, stringprep.TableC9,
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
