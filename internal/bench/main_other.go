//go:build !linux

package main

import (
	"fmt"
	"os"
	"runtime"
)

func main() {
	fmt.Fprintf(os.Stderr, "bench: runs on Linux only, not on %s\n", runtime.GOOS)
	os.Exit(2)
}
