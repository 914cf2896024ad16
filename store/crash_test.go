package store

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// The crash child: re-executed test binary that writes documents in a loop,
// printing each id only after its write returned. The parent kills it with
// SIGKILL mid-stream, which is as close to pulling the power as a process can
// get without a VM (the page cache survives, so this proves commit ordering,
// not the disk's honesty about fsync).
const crashEnv = "EDGEBRIDGE_STORE_CRASH_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(path)
		return
	}
	os.Exit(m.Run())
}

func crashChild(path string) {
	db, err := Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	c := Coll{Domain: "crash", Resource: "device"}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		id := fmt.Sprintf("dev%08d", i)
		// A multi-document update: both halves must be there, or neither.
		err := db.Update(func(tx *Tx) error {
			if err := tx.Put(c, id, []byte(`{"deviceId":"`+id+`"}`)); err != nil {
				return err
			}
			return tx.Put(Coll{Domain: "crash", Resource: "mirror"}, id, []byte(`1`))
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(4)
		}
		fmt.Fprintln(w, i)
		w.Flush()
	}
}

func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.db")
	for round := 0; round < 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashEnv+"="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := -1
		sc := bufio.NewScanner(out)
		deadline := time.Now().Add(400 * time.Millisecond)
		for sc.Scan() {
			n, err := strconv.Atoi(sc.Text())
			if err != nil {
				t.Fatalf("child said %q", sc.Text())
			}
			acked = n
			if time.Now().After(deadline) && acked >= 20 {
				break
			}
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		// Lines already written by the child after our last read count too.
		for sc.Scan() {
			if n, err := strconv.Atoi(sc.Text()); err == nil {
				acked = n
			}
		}
		_ = cmd.Wait()
		if acked < 0 {
			t.Fatalf("round %d: child acknowledged nothing", round)
		}

		db, err := Open(path)
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		c := Coll{Domain: "crash", Resource: "device"}
		m := Coll{Domain: "crash", Resource: "mirror"}
		for i := 0; i <= acked; i++ {
			id := fmt.Sprintf("dev%08d", i)
			if _, err := db.Get(c, id); err != nil {
				t.Fatalf("round %d: acknowledged write %s lost: %v", round, id, err)
			}
		}
		nd, _ := db.Count(c, "")
		nm, _ := db.Count(m, "")
		if nd != nm {
			t.Fatalf("round %d: torn multi-document update: %d devices, %d mirrors", round, nd, nm)
		}
		t.Logf("round %d: %d acknowledged, %d on disk", round, acked+1, nd)
		// Start the next round from an empty collection, on the same file.
		_, _ = db.DeleteAll(c)
		_, _ = db.DeleteAll(m)
		db.Close()
	}
}
