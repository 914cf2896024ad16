package contactid_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/alarm/contactid"
	"github.com/edgebridge/edgebridge/alarm/delivery"
	"github.com/edgebridge/edgebridge/internal/testkit"
	"github.com/edgebridge/edgebridge/store"
)

// From the panel's digits to an ARC's HTTP callback, with the real durable
// queue (bbolt in a temporary folder) between receiver and sender: the
// panel hears its kissoff, and the ARC gets the event with the same id.
// Then the store fails: the same panel gets no kissoff at all.
func TestPanelToARCThroughDurableQueue(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var mu sync.Mutex
	var got []delivery.CallbackBody
	arc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b delivery.CallbackBody
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		mu.Lock()
		got = append(got, b)
		mu.Unlock()
		w.Write([]byte(`{"success":true}`))
	}))
	defer arc.Close()

	db, err := store.Open(filepath.Join(t.TempDir(), "eb.db"))
	if err != nil {
		t.Fatal(err)
	}
	resolve := func(ev alarm.Event) ([]delivery.Route, error) {
		return []delivery.Route{{Name: "d/arc", Domain: "d", Primary: delivery.Endpoint{Protocol: delivery.ProtoHTTP, URL: arc.URL}}}, nil
	}
	d := delivery.New(db, resolve, delivery.WithLogger(log), delivery.WithBackoff(10*time.Millisecond, 50*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	msg, _ := contactid.Build("1234", "18", "1", "130", "01", "015")
	call := func(attempts int) (contactid.PanelReport, error, alarm.Outcome) {
		r, _ := contactid.NewReceiver(contactid.Config{Log: log})
		p, _ := contactid.NewPanel(contactid.PanelConfig{Attempts: attempts})
		var rep contactid.PanelReport
		out, err, perr := alarmtest.RunCall(alarmtest.Options{}, r, alarm.Call{ID: "call-1", Domain: "d"}, d, func(ctx context.Context, ch alarm.Channel) (err error) {
			rep, err = p.Send(ctx, ch, []contactid.Message{msg})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return rep, perr, out
	}

	rep, perr, out := call(4)
	if perr != nil || !rep.Messages[0].Acked || len(out.Events) != 1 {
		t.Fatalf("panel %v %+v, outcome %+v", perr, rep, out)
	}
	testkit.Eventually(10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) > 0 })
	mu.Lock()
	if len(got) != 1 || got[0].ID != out.Events[0].ID || got[0].Raw != msg.Raw || got[0].ContactID == nil || got[0].ContactID.Code != "130" {
		t.Fatalf("ARC got %+v, want the acknowledged event %s", got, out.Events[0].ID)
	}
	mu.Unlock()

	// The store cannot be written any more: no kissoff, the panel tries its
	// attempts and gives up (to call its backup number).
	db.Close()
	rep, perr, out = call(2)
	if !errors.Is(perr, contactid.ErrNoKissoff) || rep.Messages[0].KissoffMs != -1 || out.EnqueueFailures != 2 || len(out.Events) != 0 {
		t.Fatalf("store closed: panel %v %+v, outcome %+v", perr, rep, out)
	}
}
