package testkit

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// The crash-a-child harness: a test starts its own test binary again as a
// child that writes in a loop and prints a line for each write only once
// the write returned (acknowledged, as a panel gets its kissoff), then kills
// it with SIGKILL mid-stream and checks that every acknowledged write
// survived. That is as close to pulling the power as a process gets without
// a VM: the page cache survives, so it proves commit ordering, not the
// disk's honesty about fsync.
const (
	childEnv     = "EDGEBRIDGE_TESTKIT_CHILD"
	childArgsEnv = "EDGEBRIDGE_TESTKIT_CHILD_ARGS"
	argSep       = "\x1f" // ASCII unit separator: args may hold newlines (a PEM key)
)

// ChildMain is for a package's TestMain, before m.Run: in a process that
// StartChild (or ChildCommand) started it runs the child function named
// there with its args and exits with what it returns; in the test process
// it returns at once.
func ChildMain(children map[string]func(args []string) int) {
	name := os.Getenv(childEnv)
	if name == "" {
		return
	}
	run, ok := children[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "testkit: no child %q in this test binary\n", name)
		os.Exit(2)
	}
	var args []string
	if a := os.Getenv(childArgsEnv); a != "" {
		args = strings.Split(a, argSep)
	}
	os.Exit(run(args))
}

// Child is a running child process. Out reads its standard output line by
// line; its standard error goes to the test's.
type Child struct {
	Out *bufio.Scanner
	cmd *exec.Cmd
}

// ChildCommand is the command that runs the test binary again as the child
// name (see ChildMain) with args, for a test that runs it itself (to read
// how it died). Its environment is the test's plus the child's name.
func ChildCommand(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+name, childArgsEnv+"="+strings.Join(args, argSep))
	return cmd
}

// StartChild starts the child name with args, its standard output read
// through Out. The test's end kills it if still running.
func StartChild(t testing.TB, name string, args ...string) *Child {
	t.Helper()
	cmd := ChildCommand(name, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &Child{Out: bufio.NewScanner(out), cmd: cmd}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return c
}

// Kill sends SIGKILL and returns the lines the child had written before it
// died that Out had not read yet: those writes were acknowledged too.
func (c *Child) Kill() []string {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	var rest []string
	for c.Out.Scan() {
		rest = append(rest, c.Out.Text())
	}
	_ = c.cmd.Wait()
	return rest
}
