// Package wire frames PostgreSQL protocol messages for pgbun.
//
// It reads whole messages only where pgbun must understand them (startup,
// authentication, login of server connections) and otherwise lets bytes
// pass: a Scanner walks a byte stream in place, reporting message
// boundaries and the few bodies the pooler needs, so the forwarding path
// copies buffers without decoding or allocating. Every length read from
// the network is bounded before anything is allocated.
package wire
