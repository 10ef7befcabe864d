package cluster

import "syscall"

// groupAttr puts a child in a process group of its own and has the kernel
// send it sig if this process dies first.
func groupAttr(sig syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: sig}
}
