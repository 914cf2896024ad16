package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/edgebridge/edgebridge/dsp/audiofile"
	"github.com/edgebridge/edgebridge/engine"
)

// ivrBench: the media service as an integrator meets it. An application on
// loopback (http://) drives ivrCalls concurrent IVR sessions of the daemon;
// each caller (this program's own SIP engine) waits until its IVR collects,
// sends one RFC 4733 key of 80 ms, and the time from sending it to the next
// getIvrCommand reaching the application is the webhook round trip (the
// key's 80 ms, its detection at its end, the callback's signing and HTTP). The daemon's RSS is
// read while all sessions are up, a prompt playing in each.
func ivrBench(d *daemon, calls, rounds int) {
	fmt.Printf("\n== media service: %d concurrent IVR sessions, %d keys each\n", calls, rounds)
	a := newIVRApp()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	srv := &http.Server{Handler: a}
	go srv.Serve(ln)
	defer srv.Close()
	doc := fmt.Sprintf(`{"name":"bench","destinationMatch":"^ivr","callbackBaseUrl":"http://%s/app","restAuthentication":[]}`, ln.Addr())
	if err := d.api("POST", "/provisioning/mediaservice/local", doc); err != nil {
		fail(err)
	}
	if err := d.upload("/mediaservice/local/promptfile/tone.wav", toneWAV(1000, 3000)); err != nil {
		fail(err)
	}
	eng, err := engine.New(engine.Config{SIPAddr: "127.0.0.1:0", Domain: "local", RTPPortMin: 40000, RTPPortMax: 40999},
		engine.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		fail(err)
	}
	if err := eng.Start(context.Background()); err != nil {
		fail(err)
	}
	defer eng.Close()

	var wg sync.WaitGroup
	var mu sync.Mutex
	var lat []time.Duration
	up := make(chan struct{}, calls)
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := fmt.Sprintf("ivr%d", i)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			c, err := eng.Dial(ctx, engine.DialOptions{To: "sip:" + n + "@" + d.sip, From: "bench"})
			if err != nil {
				fmt.Printf("   call %s: %v\n", n, err)
				up <- struct{}{}
				return
			}
			defer c.Hangup()
			s := c.Session()
			stop := make(chan struct{})
			defer close(stop)
			go func() { // the caller's side: silence, which carries the keys
				frame := make([]int16, 160)
				for s.ReadFrame(frame) == nil {
					select {
					case <-stop:
						return
					default:
					}
					clear(frame)
					if s.WriteFrame(frame) != nil {
						return
					}
				}
			}()
			ch := a.session(n)
			for r := range rounds {
				select {
				case <-ch: // the IVR is collecting
				case <-ctx.Done():
					return
				}
				if r == 0 {
					up <- struct{}{}
				}
				time.Sleep(300 * time.Millisecond)
				keyStart := time.Now()
				if err := s.SendDigit('5', 80); err != nil {
					return
				}
				select {
				case at := <-a.keyed(n):
					mu.Lock()
					lat = append(lat, at.Sub(keyStart))
					mu.Unlock()
				case <-time.After(10 * time.Second):
					fmt.Printf("   %s: no getIvrCommand after the key\n", n)
					return
				}
			}
		}()
	}
	for range calls {
		<-up
	}
	time.Sleep(time.Second)
	fmt.Printf("RSS, %d IVR sessions up      %s\n", calls, d.rssLine())
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) == 0 {
		fmt.Println("   no round trip measured")
		return
	}
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(math.Ceil(p*float64(len(lat))))-1)] }
	fmt.Printf("key sent -> next getIvrCommand  p50 %.1f ms   p99 %.1f ms   (%d keys of 80 ms, RFC 4733, loopback; the key counts at its end)\n",
		float64(pct(0.50).Microseconds())/1000, float64(pct(0.99).Microseconds())/1000, len(lat))
}

// ivrApp is the integrator's application for the bench.
type ivrApp struct {
	mu      sync.Mutex
	byID    map[string]string // sessionId -> called number
	ready   map[string]chan struct{}
	arrived map[string]chan time.Time
}

func newIVRApp() *ivrApp {
	return &ivrApp{byID: map[string]string{}, ready: map[string]chan struct{}{}, arrived: map[string]chan time.Time{}}
}

func (a *ivrApp) session(n string) chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ready[n] == nil {
		a.ready[n] = make(chan struct{}, 1)
	}
	return a.ready[n]
}

func (a *ivrApp) keyed(n string) chan time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.arrived[n] == nil {
		a.arrived[n] = make(chan time.Time, 1)
	}
	return a.arrived[n]
}

func (a *ivrApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	var body map[string]any
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &body)
	id, _ := body["sessionId"].(string)
	w.Header().Set("Content-Type", "application/json")
	switch strings.TrimPrefix(r.URL.Path, "/app/") {
	case "newCall":
		a.mu.Lock()
		a.byID[id], _ = body["calledParty"].(string)
		a.mu.Unlock()
		io.WriteString(w, `{"action":"ivr"}`)
	case "getIvrCommand":
		a.mu.Lock()
		n := a.byID[id]
		a.mu.Unlock()
		if _, ok := body["dtmfParams"]; ok {
			select {
			case a.keyed(n) <- at:
			default:
			}
		}
		// Collect one key while the prompt plays, then say so.
		io.WriteString(w, `{"phrases":[{"fileName":"tone.wav"}],"dtmf":{"maxDigits":1,"firstTimeout":30,"flush":true}}`)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		select {
		case a.session(n) <- struct{}{}:
		default:
		}
	default:
		io.WriteString(w, `{}`)
	}
}

// upload PUTs a prompt file.
func (d *daemon) upload(path string, wav []byte) error {
	req, _ := http.NewRequest("PUT", "http://"+d.http+path, bytes.NewReader(wav))
	req.Header.Set("Authorization", "Bearer "+d.key)
	req.Header.Set("Content-Type", "audio/wav")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		return fmt.Errorf("PUT %s: %d %s", path, res.StatusCode, b)
	}
	return nil
}

func toneWAV(freq float64, ms int) []byte {
	pcm := make([]int16, 8*ms)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(2*math.Pi*freq*float64(i)/8000))
	}
	var b bytes.Buffer
	if err := audiofile.WriteWAV(&b, pcm, audiofile.PCM16); err != nil {
		fail(err)
	}
	return b.Bytes()
}
