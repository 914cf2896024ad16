package testkit

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	ChildMain(map[string]func([]string) int{"count": countChild})
	os.Exit(m.Run())
}

// countChild prints 0, 1, 2, ... from args[0] on, forever.
func countChild(args []string) int {
	n, _ := strconv.Atoi(args[0])
	for ; ; n++ {
		fmt.Println(n)
		time.Sleep(time.Millisecond)
	}
}

func TestChildKilledMidStream(t *testing.T) {
	c := StartChild(t, "count", "7")
	var got []string
	for len(got) < 5 && c.Out.Scan() {
		got = append(got, c.Out.Text())
	}
	got = append(got, c.Kill()...)
	if len(got) < 5 || got[0] != "7" || got[4] != "11" {
		t.Fatalf("child printed %v, want 7, 8, 9, ... from its argument", got)
	}
	if c.cmd.ProcessState == nil || c.cmd.ProcessState.Success() {
		t.Fatalf("child not killed: %v", c.cmd.ProcessState)
	}
}

// Two ranges taken at once do not overlap, and their ports can be bound.
func TestPortRangesDisjointAndFree(t *testing.T) {
	lo1, hi1 := PortRange(t, 40)
	lo2, hi2 := PortRange(t, 15)
	if hi1-lo1 != 39 || hi2-lo2 != 14 {
		t.Fatalf("ranges %d-%d and %d-%d, want 40 and 15 ports", lo1, hi1, lo2, hi2)
	}
	if lo2 <= hi1 && lo1 <= hi2 {
		t.Fatalf("ranges %d-%d and %d-%d overlap", lo1, hi1, lo2, hi2)
	}
	if hi1 >= 32768 || hi2 >= 32768 {
		t.Fatalf("ranges %d-%d and %d-%d reach the ephemeral ports", lo1, hi1, lo2, hi2)
	}
	c, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(lo2))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// WaitFor polls until the condition holds, and stops there.
func TestWaitForPollsUntilTheCondition(t *testing.T) {
	calls := 0
	WaitFor(t, "the third poll", 5*time.Second, func() bool { calls++; return calls == 3 })
	if calls != 3 {
		t.Fatalf("condition polled %d times, want 3", calls)
	}
}

func TestEventuallySaysWhetherTheConditionHeld(t *testing.T) {
	if Eventually(30*time.Millisecond, func() bool { return false }) {
		t.Fatal("Eventually reported a condition that never held")
	}
	calls := 0
	if !Eventually(5*time.Second, func() bool { calls++; return calls == 2 }) || calls != 2 {
		t.Fatalf("Eventually: condition polled %d times, want 2", calls)
	}
}
