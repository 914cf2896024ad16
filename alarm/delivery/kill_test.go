package delivery

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/internal/testkit"
	"github.com/edgebridge/edgebridge/store"
)

// The delivery crash child (testkit's crash-a-child harness): it runs
// delivery against the parent's callback server and enqueues events in a
// loop, printing each id only after Enqueue returned (the moment a panel
// would get its kissoff). The parent kills it with SIGKILL mid-delivery.
func TestMain(m *testing.M) {
	testkit.ChildMain(map[string]func([]string) int{"delivery": func(args []string) int {
		from, _ := strconv.Atoi(args[2])
		return deliveryChild(args[0], args[1], from)
	}})
	os.Exit(m.Run())
}

func deliveryChild(path, url string, from int) int {
	db, err := store.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	route, err := CallbackRoute("crash.example", "ab1", url, nil, nil, 2000)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	d := New(db, fixed(route), WithLogger(testLog), WithBackoff(5*time.Millisecond, 40*time.Millisecond))
	if err := d.Start(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	w := bufio.NewWriter(os.Stdout)
	for i := from; ; i++ {
		for _, dev := range []string{"1001", "1002", "1003"} {
			ev := cidEvent(dev, i)
			if err := d.Enqueue(context.Background(), ev); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 4
			}
			fmt.Fprintln(w, ev.ID)
			w.Flush()
		}
		time.Sleep(time.Millisecond)
	}
}

func TestKilledMidDeliveryLosesNothing(t *testing.T) {
	// Deliveries are in flight when the kill comes.
	arc := newHTTPARC(t, func(a *httpARC) { a.delay = func(int) time.Duration { return 3 * time.Millisecond } })
	path := filepath.Join(t.TempDir(), "edgebridge.db")
	acked := map[string]bool{}
	for round := 0; round < 2; round++ {
		child := testkit.StartChild(t, "delivery", path, arc.srv.URL, strconv.Itoa(1+round*1000))
		n := 0
		for n < 150 && child.Out.Scan() {
			acked[child.Out.Text()] = true
			n++
		}
		before := arc.count()
		for _, id := range child.Kill() {
			acked[id] = true
		}
		if n < 150 {
			t.Fatalf("round %d: child printed %d ids", round, n)
		}
		t.Logf("round %d: killed with %d events acknowledged to panels, %d at the ARC", round, len(acked), before)
	}
	if arc.count() >= len(acked) {
		t.Fatalf("the ARC already had everything (%d of %d) before the restart: the kill came too late to test anything", arc.count(), len(acked))
	}
	// The daemon starts again on the same file: every acknowledged event
	// reaches the ARC, in order per device.
	db, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	route, _ := CallbackRoute("crash.example", "ab1", arc.srv.URL, nil, nil, 2000)
	d := New(db, fixed(route), fastOpts()...)
	start(t, d)
	testkit.WaitFor(t, "every acknowledged event at the ARC", 10*time.Second, func() bool {
		have := map[string]bool{}
		for _, b := range arc.got() {
			have[b.ID] = true
		}
		for id := range acked {
			if !have[id] {
				return false
			}
		}
		return true
	})
	last := map[string]string{}
	for _, b := range arc.got() {
		dev := b.ID[:strings.IndexByte(b.ID, '-')]
		if p := last[dev]; p != "" && b.ID <= p {
			t.Fatalf("device %s: %s reached the ARC after %s", dev, b.ID, p)
		}
		last[dev] = b.ID
	}
	arc.mu.Lock()
	repeats := arc.repeats
	arc.mu.Unlock()
	t.Logf("%d events acknowledged, %d at the ARC, %d repeats absorbed by Idempotency-Key", len(acked), arc.count(), repeats)
}
