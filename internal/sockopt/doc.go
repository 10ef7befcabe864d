// Package sockopt sets TCP socket options that net does not expose.
//
// The options are Linux's; on other systems the functions accept the same
// arguments and leave the socket as it is.
package sockopt
