package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/edgebridge/edgebridge/alarm/dc09"
)

func init() {
	register("arc", "run a small SIA DC-09 receiver (TCP and UDP) that prints each message as JSON", runArc)
}

// arcLine is one line of `edgebridge arc`.
type arcLine struct {
	Transport string   `json:"transport"`
	From      string   `json:"from"`
	ID        string   `json:"id"`
	Encrypted bool     `json:"encrypted"`
	Seq       int      `json:"seq"`
	Receiver  string   `json:"receiver,omitempty"`
	Line      string   `json:"line,omitempty"`
	Account   string   `json:"account"`
	Data      string   `json:"data"`
	Ext       []string `json:"ext,omitempty"`
	Time      string   `json:"time,omitempty"`
}

func runArc(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("arc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:5001", "address for both TCP and UDP (port 0: any free port)")
	keyHex := fs.String("key", "", "AES key for encrypted accounts, 32/48/64 hex digits (AES-128/192/256)")
	count := fs.Int("count", 0, "exit after this many event messages (0: run until SIGINT/SIGTERM)")
	nulls := fs.Bool("nulls", false, "print NULL (supervision) messages too")
	loose := fs.Bool("loose", false, `reply the way receivers ARCs run do: None for a missing R ("ACK"0001NoneL0#1234[]), lower-case hex, no timestamp on plain ACKs`)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "arc: takes no arguments")
		fs.Usage()
		return 2
	}
	var key []byte
	if *keyHex != "" {
		k, err := dc09.ParseKey(*keyHex)
		if err != nil {
			fmt.Fprintln(stderr, "arc: --key:", err)
			return 2
		}
		key = k
	}
	var mu sync.Mutex
	enc := json.NewEncoder(stdout)
	done := make(chan struct{})
	seen := 0
	r := &dc09.Receiver{
		Loose: *loose,
		Key:   func(string) []byte { return key },
		Handle: func(m dc09.Message, from net.Addr) dc09.Verdict {
			mu.Lock()
			defer mu.Unlock()
			if m.ID == dc09.IDNull && !*nulls {
				return dc09.VerdictAck
			}
			l := arcLine{Transport: from.Network(), From: from.String(), ID: m.ID, Encrypted: m.Encrypted, Seq: m.Seq,
				Receiver: m.Receiver, Line: m.Line, Account: m.Account, Data: m.Data, Ext: m.Ext}
			if !m.Time.IsZero() {
				l.Time = m.Time.UTC().Format(time.RFC3339)
			}
			enc.Encode(l)
			if m.ID != dc09.IDNull {
				seen++
				if *count > 0 && seen == *count {
					close(done)
				}
			}
			return dc09.VerdictAck
		},
	}
	addr, err := r.Listen(*listen)
	if err != nil {
		fmt.Fprintln(stderr, "arc:", err)
		return 1
	}
	fmt.Fprintf(stderr, "arc: listening on %s (tcp and udp)\n", addr)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	select {
	case <-done:
		// Give the last ACK a moment to leave before the sockets close.
		time.Sleep(50 * time.Millisecond)
	case <-sig:
	}
	r.Close()
	return 0
}
