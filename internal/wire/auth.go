package wire

// Authentication request codes, the first Int32 of an 'R' message.
const (
	AuthOK                = 0
	AuthCleartextPassword = 3
	AuthMD5Password       = 5
	AuthSASL              = 10
	AuthSASLContinue      = 11
	AuthSASLFinal         = 12
)

// AppendAuth appends an authentication request ('R') with the given code
// and the bytes that follow it (an md5 salt, SASL data).
func AppendAuth(dst []byte, code uint32, data []byte) []byte {
	dst, s := AppendHeader(dst, 'R')
	dst = AppendUint32(dst, code)
	dst = append(dst, data...)
	return Finish(dst, s)
}

// AppendAuthSASL appends AuthenticationSASL offering mechanisms, in order
// of preference.
func AppendAuthSASL(dst []byte, mechanisms []string) []byte {
	dst, s := AppendHeader(dst, 'R')
	dst = AppendUint32(dst, AuthSASL)
	for _, m := range mechanisms {
		dst = AppendCString(dst, m)
	}
	dst = append(dst, 0)
	return Finish(dst, s)
}

// ParseAuth splits the body of an authentication request into its code
// and the data after it (aliasing body); ok is false when the code is
// missing.
func ParseAuth(body []byte) (code uint32, data []byte, ok bool) {
	return Uint32(body)
}

// ParseSASLMechanisms reads the mechanism list of AuthenticationSASL
// (the data after the code): names up to an empty one or to the end of
// data. ok is false when a name lacks its NUL; an empty list is ok.
func ParseSASLMechanisms(data []byte) (mechanisms []string, ok bool) {
	for len(data) > 0 && data[0] != 0 {
		m, rest, ok := CString(data)
		if !ok {
			return nil, false
		}
		mechanisms, data = append(mechanisms, m), rest
	}
	return mechanisms, true
}

// AppendSASLInitialResponse appends a SASLInitialResponse ('p') choosing
// mech; a nil data is sent as length -1, no initial response.
func AppendSASLInitialResponse(dst []byte, mech string, data []byte) []byte {
	dst, s := AppendHeader(dst, 'p')
	dst = AppendCString(dst, mech)
	if data == nil {
		dst = AppendInt32(dst, -1)
	} else {
		dst = AppendInt32(dst, int32(len(data)))
		dst = append(dst, data...)
	}
	return Finish(dst, s)
}

// ParseSASLInitialResponse splits a SASLInitialResponse body into the
// chosen mechanism and the client's first message, which is nil for a
// length of -1. Otherwise the length must cover exactly the rest of the
// body. data aliases body.
func ParseSASLInitialResponse(body []byte) (mech string, data []byte, ok bool) {
	mech, rest, ok := CString(body)
	if !ok {
		return "", nil, false
	}
	n, rest, ok := Int32(rest)
	switch {
	case !ok:
		return "", nil, false
	case n == -1:
		return mech, nil, true
	case n < 0 || int64(n) != int64(len(rest)):
		return "", nil, false
	}
	return mech, rest, true
}
