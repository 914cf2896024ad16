package store

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/internal/testkit"
)

// The crash children (testkit's crash-a-child harness): crash writes
// documents in a loop, queue puts alarm events; each prints an id only after
// its write returned.
func TestMain(m *testing.M) {
	testkit.ChildMain(map[string]func([]string) int{
		"crash": func(args []string) int { return crashChild(args[0]) },
		"queue": func(args []string) int { return queueCrashChild(args[0]) },
	})
	os.Exit(m.Run())
}

func crashChild(path string) int {
	db, err := Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
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
			return 4
		}
		fmt.Fprintln(w, i)
		w.Flush()
	}
}

func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.db")
	for round := 0; round < 3; round++ {
		child := testkit.StartChild(t, "crash", path)
		acked := -1
		sc := child.Out
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
		// Lines already written by the child after our last read count too.
		for _, l := range child.Kill() {
			if n, err := strconv.Atoi(l); err == nil {
				acked = n
			}
		}
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
