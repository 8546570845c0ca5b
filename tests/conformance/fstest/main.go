// fstest-conformance runs Go's testing/fstest.TestFS against a mounted
// directory: ReadDir vs Stat vs Open consistency, Read/Seek/ReadAt (iotest),
// Glob and Sub on every file and directory.
//
//	usage: fstest-conformance MOUNTPOINT EXPECTED-ROOT-NAME...
//
// The expected names must exist (TestFS with no names demands an empty fs).
// Exit status 0 and "PASS" on success, 1 and the failures otherwise.
// Standard library only: builds offline with GO111MODULE=off.
package main

import (
	"fmt"
	"os"
	"testing/fstest"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: fstest-conformance MOUNTPOINT EXPECTED-ROOT-NAME...")
		os.Exit(2)
	}
	if err := fstest.TestFS(os.DirFS(os.Args[1]), os.Args[2:]...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("PASS")
}
