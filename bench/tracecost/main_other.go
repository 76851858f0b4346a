//go:build !linux

package main

import (
	"fmt"
	"os"
)

// main says why there is nothing to run: the tool reads /proc and pins
// processes to CPUs with taskset.
func main() {
	fmt.Fprintln(os.Stderr, "tracecost: needs Linux (/proc, taskset); see docs/performance.md")
	os.Exit(2)
}
