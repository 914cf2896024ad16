package delivery

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
)

// Pending is one event still in the queue of a destination.
type Pending struct {
	Dest        string
	Event       alarm.Event
	Attempts    int
	NextAttempt time.Time
	LastError   string
}

// Pending lists up to max events waiting for delivery, per destination in
// arrival order (the field console's "alarms queued").
func (d *Delivery) Pending(max int) ([]Pending, error) {
	dests, err := d.db.QueueDests()
	if err != nil {
		return nil, err
	}
	var out []Pending
	for _, dest := range dests {
		items, err := d.db.QueueItems(dest, max-len(out))
		if err != nil {
			return out, err
		}
		for _, it := range items {
			var q queued
			if err := json.Unmarshal(it.Payload, &q); err != nil {
				return out, fmt.Errorf("delivery: queue %s item %d: %w", dest, it.Seq, err)
			}
			out = append(out, Pending{Dest: dest, Event: q.Event, Attempts: it.Attempts, NextAttempt: it.NextAttempt, LastError: it.LastError})
		}
		if len(out) >= max {
			break
		}
	}
	return out, nil
}

// RetryNow makes every waiting event due now, puts dead letters back in
// line and wakes the workers: what a technician does once the ARC link is
// mended, instead of waiting out the backoff. It returns how many events it
// brought forward.
func (d *Delivery) RetryNow() (int, error) {
	dests, err := d.db.QueueDests()
	if err != nil {
		return 0, err
	}
	now := d.o.now()
	total := 0
	for _, dest := range dests {
		n, err := d.db.QueueRequeueDead(dest)
		if err != nil {
			return total, err
		}
		m, err := d.db.QueueMakeDue(dest, now)
		if err != nil {
			return total, err
		}
		total += n + m
	}
	d.mu.Lock()
	for _, w := range d.workers {
		w.wakeUp()
	}
	d.mu.Unlock()
	return total, nil
}
