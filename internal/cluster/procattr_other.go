//go:build !linux

package cluster

import "syscall"

// groupAttr puts a child in a process group of its own. This system has
// no parent-death signal, so sig is not used: a child outlives a process
// that dies without stopping it.
func groupAttr(sig syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
