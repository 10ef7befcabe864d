package wire

import "encoding/binary"

// Untyped packets, sent first on a connection: StartupMessage,
// SSLRequest, GSSENCRequest, CancelRequest. Each is an Int32 length
// (itself included), an Int32 code, then a body; ReadStartup reads them.

// MaxCancelKeyLen bounds the secret of a cancel key: 4 bytes on protocol
// 3.0, up to 256 from 3.2 on.
const MaxCancelKeyLen = 256

// ProtocolVersion is the code a StartupMessage carries for a version.
func ProtocolVersion(major, minor uint16) uint32 {
	return uint32(major)<<16 | uint32(minor)
}

// SplitProtocolVersion splits a StartupMessage's code into its major and
// minor version.
func SplitProtocolVersion(code uint32) (major, minor uint16) {
	return uint16(code >> 16), uint16(code)
}

// AppendStartupHeader starts an untyped packet with the given code (a
// protocol version or a request code); finish it with FinishStartup.
func AppendStartupHeader(dst []byte, code uint32) ([]byte, int) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	return AppendUint32(dst, code), start
}

// FinishStartup writes the length of the packet begun at start.
func FinishStartup(dst []byte, start int) []byte {
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start))
	return dst
}

// AppendSSLRequest appends an SSLRequest.
func AppendSSLRequest(dst []byte) []byte {
	dst, s := AppendStartupHeader(dst, SSLRequestCode)
	return FinishStartup(dst, s)
}

// AppendCancelRequest appends a CancelRequest for the backend with the
// given process id and secret key.
func AppendCancelRequest(dst []byte, pid uint32, secret []byte) []byte {
	dst, s := AppendStartupHeader(dst, CancelRequestCode)
	dst = AppendUint32(dst, pid)
	dst = append(dst, secret...)
	return FinishStartup(dst, s)
}

// ParseCancelRequest splits the body of a CancelRequest (what follows its
// code) into the process id and the secret key; ok is false unless the
// secret holds 4 to MaxCancelKeyLen bytes. secret aliases body.
func ParseCancelRequest(body []byte) (pid uint32, secret []byte, ok bool) {
	pid, secret, ok = Uint32(body)
	if !ok || len(secret) < 4 || len(secret) > MaxCancelKeyLen {
		return 0, nil, false
	}
	return pid, secret, true
}

// ParseBackendKeyData splits a BackendKeyData body into the process id and
// the secret key, which must hold at least 4 bytes. secret aliases body.
func ParseBackendKeyData(body []byte) (pid uint32, secret []byte, ok bool) {
	pid, secret, ok = Uint32(body)
	if !ok || len(secret) < 4 {
		return 0, nil, false
	}
	return pid, secret, true
}

// AppendNegotiateProtocolVersion appends NegotiateProtocolVersion: the
// newest minor version served for the major version the client asked
// for, and the protocol options (_pq_.*) it does not know.
func AppendNegotiateProtocolVersion(dst []byte, minor uint16, options []string) []byte {
	dst, s := AppendHeader(dst, 'v')
	dst = AppendUint32(dst, uint32(minor))
	dst = AppendUint32(dst, uint32(len(options)))
	for _, o := range options {
		dst = AppendCString(dst, o)
	}
	return Finish(dst, s)
}
