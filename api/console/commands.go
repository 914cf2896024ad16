package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/edgebridge/edgebridge/api"
	"github.com/edgebridge/edgebridge/hal"
)

// resources are the /provisioning collections of the provisioning schema, for completion.
var resources = []string{"alarmbridge", "alarmeventmapper", "apiKey", "cloudsipua", "device", "logs", "mediaservice", "notificationsettings", "siprecservice", "statistics", "trunk"}

var errNotWired = func(what string) error { return fmt.Errorf("%s is not available on this gateway build", what) }

func (s *Session) register() {
	s.add(&command{name: "help", usage: "help [COMMAND]", help: "Lists the commands, or explains one.",
		run: func(ctx context.Context, s *Session, args []string) error {
			if len(args) > 0 {
				c := s.cmds[args[0]]
				if c == nil {
					return fmt.Errorf("no command %q", args[0])
				}
				s.helpFor(c)
				return nil
			}
			for _, n := range s.names {
				c := s.cmds[n]
				s.printf("  %-34s %s\n", c.usage, strings.SplitN(c.help, "\n", 2)[0])
			}
			s.println("Keys: arrows, ctrl-a/e (line start/end), ctrl-u/w (delete line/word), tab completes, any key stops a stream.")
			return nil
		},
		complete: func(s *Session, args []string) []string { return s.names },
	})
	s.add(&command{name: "status", usage: "status", help: "Version, uptime, health, calls, registrations, trunks, alarm queue and the last alarms.",
		run: cmdStatus})
	s.add(&command{name: "show", usage: "show RESOURCE DOMAIN [ID [FIELD]]",
		help: "Shows configuration: GET /provisioning/RESOURCE/DOMAIN[/ID].\nFIELD picks one field, dotted for nested ones (e.g. show trunk acme t1 registration.interval).",
		run:  cmdShow, complete: completeResource})
	s.add(&command{name: "set", usage: "set RESOURCE DOMAIN ID FIELD VALUE",
		help: "Changes one field: PATCH /provisioning/RESOURCE/DOMAIN/ID (JSON Patch).\nVALUE is JSON when it parses as JSON (42, true, \"text\", [..]), else text.\nThe API checks it; a refused change changes nothing.",
		run:  cmdSet, complete: completeResource})
	s.add(&command{name: "calls", usage: "calls [hangup ID]", help: "Lists calls in progress, or hangs one up.", run: cmdCalls,
		complete: func(*Session, []string) []string { return []string{"hangup"} }})
	s.add(&command{name: "alarms", usage: "alarms [recent|queued|retry]", help: "Recent alarm events (default), the delivery queue, or retry the queue now.", run: cmdAlarms,
		complete: func(*Session, []string) []string { return []string{"queued", "recent", "retry"} }})
	s.add(&command{name: "dtmf", usage: "dtmf listen", help: "Shows DTMF digits heard on the line as they come; any key stops.", run: cmdDTMF,
		complete: func(*Session, []string) []string { return []string{"listen"} }})
	s.add(&command{name: "tone", usage: "tone play TONE [SECONDS]", help: "Plays a tone on the line: dial, busy, ringback, congestion, a frequency in Hz, or dtmf:DIGITS.", run: cmdTone,
		complete: func(_ *Session, args []string) []string {
			if len(args) == 0 {
				return []string{"play"}
			}
			return []string{"busy", "congestion", "dial", "ringback", "1400", "dtmf:"}
		}})
	s.add(&command{name: "line", usage: "line simulate --protocol P [...] | line answer [--rings N|off]",
		help: "The pretend alarm unit on the simulated FXS line (--hw sim).\n" +
			"line simulate --protocol P [--mode dtmf|sdmf] [--number N] [--event E]: the unit calls: off hook,\n" +
			"dial tone, the number (default 5551), the protocol's handshake, message and acknowledgement,\n" +
			"with timings. P is contactid, bs8521, tt92 or ttnew; --event as for `edgebridge simulate`.\n" +
			"line answer [--rings N]: the unit answers the ARC's call back (a SIP call to serve --fxs-number)\n" +
			"at ring N (default 2; it does from the start), speaks a 440 Hz tone, and the next call back is\n" +
			"shown: ring bursts, off hook, the keys it hears, the hang-up. line answer off: it lets the line ring.\n" +
			"Any key stops; in a call, the unit hangs up.",
		run: cmdLine,
		complete: func(_ *Session, args []string) []string {
			switch {
			case len(args) == 0:
				return []string{"answer", "simulate"}
			case args[0] == "answer":
				return []string{"--rings", "off"}
			}
			return []string{"--event", "--mode", "--number", "--protocol"}
		}})
	s.add(&command{name: "log", usage: "log tail [LEVEL]", help: "Shows the last log lines at LEVEL (debug, info, warn, error; default info) and follows; any key stops.", run: cmdLog,
		complete: func(_ *Session, args []string) []string {
			if len(args) == 0 {
				return []string{"tail"}
			}
			return []string{"debug", "error", "info", "warn"}
		}})
	s.add(&command{name: "net", usage: "net", help: "Network interfaces, their state and addresses.", run: cmdNet})
	s.add(&command{name: "firmware", usage: "firmware status|apply FILE", help: "A/B firmware: slots and the last update (GET /firmware/status),\nor install a signed image from a local file (POST /firmware), showing progress.", run: cmdFirmware,
		complete: func(*Session, []string) []string { return []string{"apply", "status"} }})
	s.add(&command{name: "hw", usage: "hw", help: "The hardware: tamper switch, FXS line (hook, ringing), relay, lamps, watchdog.", run: cmdHW})
	s.add(&command{name: "relay", usage: "relay on|off", help: "Energises or releases the output relay.", run: cmdRelay,
		complete: func(*Session, []string) []string { return []string{"off", "on"} }})
	s.add(&command{name: "reboot", usage: "reboot", help: "Restarts the gateway (asks to confirm).", run: cmdReboot})
	s.add(&command{name: "factory-reset", usage: "factory-reset", help: "Erases all configuration, registrations and logs and restarts; queued alarms are kept and still delivered (asks to confirm).", run: cmdFactoryReset})
	if s.cfg.Authorize == nil {
		s.add(&command{name: "logout", usage: "logout", help: "Forgets the admin key; the next command asks for it.", run: func(ctx context.Context, s *Session, args []string) error {
			s.token = ""
			s.println("logged out.")
			return nil
		}})
	}
}

func completeResource(_ *Session, args []string) []string {
	if len(args) == 0 {
		return resources
	}
	return nil
}

func (s *Session) confirm(ctx context.Context, question, want string) (bool, error) {
	ans, err := s.readLine(ctx, question+" Type '"+want+"' to go on: ", linePlain)
	if err != nil {
		return false, err
	}
	if ans != want {
		s.println("cancelled.")
		return false, nil
	}
	return true, nil
}

func provisioningPath(args []string) (string, error) {
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, "/?#") {
			return "", fmt.Errorf("argument %d (%q) may not contain /, ? or #", i+1, a)
		}
	}
	p := "/provisioning"
	for _, a := range args {
		p += "/" + url.PathEscape(a)
	}
	return p, nil
}

func cmdShow(ctx context.Context, s *Session, args []string) error {
	if len(args) < 2 || len(args) > 4 {
		return errors.New("usage: show RESOURCE DOMAIN [ID [FIELD]]")
	}
	n := len(args)
	if n == 4 {
		n = 3
	}
	path, err := provisioningPath(args[:n])
	if err != nil {
		return err
	}
	code, v, err := s.rest(ctx, http.MethodGet, path, nil, "")
	if err != nil {
		return err
	}
	if code/100 != 2 {
		return restError(code, v)
	}
	if m, ok := v.(map[string]any); ok {
		delete(m, "success")
		// A single document comes under one key (the provisioning schema's response shape).
		if len(m) == 1 {
			for _, inner := range m {
				v = inner
			}
		}
	}
	if len(args) == 4 {
		for _, part := range strings.Split(args[3], ".") {
			m, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("%s: no field %q here", args[3], part)
			}
			if v, ok = m[part]; !ok {
				return fmt.Errorf("%s: no field %q here", args[3], part)
			}
		}
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	s.println(string(b))
	return nil
}

func cmdSet(ctx context.Context, s *Session, args []string) error {
	if len(args) != 5 {
		return errors.New("usage: set RESOURCE DOMAIN ID FIELD VALUE")
	}
	path, err := provisioningPath(args[:3])
	if err != nil {
		return err
	}
	var value any
	dec := json.NewDecoder(strings.NewReader(args[4]))
	dec.UseNumber()
	if dec.Decode(&value) != nil || dec.More() {
		value = args[4]
	}
	ptr := ""
	for _, part := range strings.Split(args[3], ".") {
		ptr += "/" + strings.ReplaceAll(strings.ReplaceAll(part, "~", "~0"), "/", "~1") // RFC 6901 §3
	}
	patch, _ := json.Marshal([]map[string]any{{"op": "add", "path": ptr, "value": value}})
	code, v, err := s.rest(ctx, http.MethodPatch, path, strings.NewReader(string(patch)), "application/json-patch+json")
	if err != nil {
		return err
	}
	if code/100 != 2 {
		return restError(code, v)
	}
	s.printf("%s %s set.\n", strings.Join(args[:3], " "), args[3])
	return nil
}

func cmdStatus(ctx context.Context, s *Session, args []string) error {
	s.printf("version        %s\n", s.cfg.Version)
	s.printf("uptime         %s\n", time.Since(s.cfg.Started).Round(time.Second))
	if s.cfg.TLSFingerprint != nil {
		if fp := s.cfg.TLSFingerprint(); fp != "" {
			s.printf("https sha256   %s\n", fp)
		}
	}
	code, raw, _ := s.restRaw(ctx, http.MethodGet, "/healthz", nil, "")
	health := "ok"
	if code != http.StatusOK {
		var v any
		json.Unmarshal(raw, &v)
		health = fmt.Sprintf("NOT HEALTHY: %v", restError(code, v))
	}
	s.printf("health         %s\n", oneLine(health))
	code, raw, _ = s.restRaw(ctx, http.MethodGet, "/metrics", nil, "")
	if code != http.StatusOK {
		s.println("metrics        not wired (GET /metrics answered " + strconv.Itoa(code) + ")")
	} else {
		m := parseMetrics(string(raw))
		show := func(label, name string) {
			if v, ok := m[name]; ok {
				s.printf("%-14s %s\n", label, v)
			} else {
				s.printf("%-14s not wired\n", label)
			}
		}
		show("calls", "edgebridge_calls_active")
		show("registrations", "edgebridge_registrations")
		var trunks []string
		for k, v := range m {
			if name, ok := strings.CutPrefix(k, `edgebridge_trunk_up{trunk="`); ok {
				state := "down"
				if v == "1" {
					state = "up"
				}
				trunks = append(trunks, strings.TrimSuffix(name, `"}`)+" "+state)
			}
		}
		sort.Strings(trunks)
		if len(trunks) == 0 {
			trunks = []string{"none"}
		}
		s.printf("%-14s %s\n", "trunks", strings.Join(trunks, ", "))
		show("alarm queue", "edgebridge_alarms_queued")
		show("alarms in", "edgebridge_alarms_received_total")
		show("delivered", "edgebridge_alarms_delivered_total")
	}
	if st, err := s.firmwareStatus(ctx); err != nil {
		s.println("firmware       " + oneLine(err.Error()))
	} else if st.Boot == nil {
		s.println("firmware       no image in the slots (running the installed binary)")
	} else {
		state := "confirmed"
		if st.Boot.Pending {
			state = "ON TRIAL, not yet confirmed"
		}
		version := ""
		for _, sl := range st.Slots {
			if sl.Name == st.Boot.Active {
				version = sl.Version
			}
		}
		s.printf("firmware       boot slot %s: %s, %s\n", st.Boot.Active, version, state)
	}
	if s.cfg.Alarms == nil {
		s.println("last alarms    not wired")
		return nil
	}
	recent := s.cfg.Alarms.RecentAlarms(5)
	if len(recent) == 0 {
		s.println("last alarms    none")
	}
	for i, a := range recent {
		label := ""
		if i == 0 {
			label = "last alarms"
		}
		s.printf("%-14s %s\n", label, formatAlarm(a))
	}
	return nil
}

// parseMetrics reads Prometheus text into series -> value text.
func parseMetrics(text string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			out[line[:i]] = line[i+1:]
		}
	}
	return out
}

func formatAlarm(a AlarmInfo) string {
	if a.Test {
		a.Protocol += " TEST"
	}
	return fmt.Sprintf("%s %-9s acct %s code %s zone %s %s (tries %d) id %s", a.At.UTC().Format("2006-01-02 15:04:05"), a.Protocol, a.Account, a.Code, a.Zone, a.State, a.Attempts, a.ID)
}

func cmdCalls(ctx context.Context, s *Session, args []string) error {
	if s.cfg.Calls == nil {
		return errNotWired("call control")
	}
	switch {
	case len(args) == 0:
		calls := s.cfg.Calls.ListCalls()
		if len(calls) == 0 {
			s.println("no calls in progress.")
		}
		for _, c := range calls {
			s.printf("%-20s %-24s -> %-24s %-10s %s\n", c.ID, c.From, c.To, c.State, time.Since(c.Started).Round(time.Second))
		}
		return nil
	case len(args) == 2 && args[0] == "hangup":
		if err := s.cfg.Calls.HangupCall(args[1]); err != nil {
			return err
		}
		s.printf("call %s hung up.\n", args[1])
		return nil
	}
	return errors.New("usage: calls [hangup ID]")
}

func cmdAlarms(ctx context.Context, s *Session, args []string) error {
	if s.cfg.Alarms == nil {
		return errNotWired("the alarm pipeline")
	}
	sub := "recent"
	if len(args) > 0 {
		sub = args[0]
	}
	var list []AlarmInfo
	switch sub {
	case "recent":
		list = s.cfg.Alarms.RecentAlarms(20)
	case "queued":
		list = s.cfg.Alarms.QueuedAlarms()
	case "retry":
		n, err := s.cfg.Alarms.RetryNow()
		if err != nil {
			return err
		}
		s.printf("%d queued events retrying now.\n", n)
		return nil
	default:
		return errors.New("usage: alarms [recent|queued|retry]")
	}
	if len(list) == 0 {
		s.printf("no %s alarms.\n", sub)
	}
	for _, a := range list {
		s.println(formatAlarm(a))
	}
	return nil
}

func cmdDTMF(ctx context.Context, s *Session, args []string) error {
	if len(args) != 1 || args[0] != "listen" {
		return errors.New("usage: dtmf listen")
	}
	if s.cfg.Digits == nil {
		return errNotWired("DTMF listening")
	}
	ch, cancel := s.cfg.Digits.SubscribeDigits()
	defer cancel()
	s.println("listening for DTMF; press any key to stop.")
	return untilKey(ctx, s, ch, func(d Digit) string {
		return fmt.Sprintf("%s  %c  %d ms  call %s", time.Now().UTC().Format("15:04:05.000"), d.Key, d.DurationMs, d.CallID)
	})
}

func cmdTone(ctx context.Context, s *Session, args []string) error {
	if len(args) < 2 || len(args) > 3 || args[0] != "play" {
		return errors.New("usage: tone play TONE [SECONDS]")
	}
	if s.cfg.Tones == nil {
		return errNotWired("tone playing")
	}
	d := 3 * time.Second
	if len(args) == 3 {
		secs, err := strconv.ParseFloat(args[2], 64)
		if err != nil || secs <= 0 || secs > 60 {
			return fmt.Errorf("SECONDS must be a number from 0 to 60, not %q", args[2])
		}
		d = time.Duration(secs * float64(time.Second))
	}
	if err := s.cfg.Tones.PlayTone(ctx, args[1], d); err != nil {
		return err
	}
	s.printf("played %s for %s.\n", args[1], d)
	return nil
}

func cmdLog(ctx context.Context, s *Session, args []string) error {
	if len(args) < 1 || len(args) > 2 || args[0] != "tail" {
		return errors.New("usage: log tail [LEVEL]")
	}
	if s.cfg.Logs == nil {
		return errNotWired("the log ring")
	}
	level, err := ParseLevel("info")
	if len(args) == 2 {
		if level, err = ParseLevel(args[1]); err != nil {
			return err
		}
	}
	ch, cancel := s.cfg.Logs.Follow(level)
	defer cancel()
	for _, l := range s.cfg.Logs.Tail(level, 20) {
		s.println(l.String())
	}
	s.println("-- following; press any key to stop --")
	return untilKey(ctx, s, ch, LogLine.String)
}

func hostIfaces() ([]Iface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []Iface
	for _, i := range ifs {
		f := Iface{Name: i.Name, Up: i.Flags&net.FlagUp != 0, MAC: i.HardwareAddr.String()}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			f.Addrs = append(f.Addrs, a.String())
		}
		out = append(out, f)
	}
	return out, nil
}

func cmdNet(ctx context.Context, s *Session, args []string) error {
	list := s.cfg.Net
	if list == nil {
		list = hostIfaces
	}
	ifs, err := list()
	if err != nil {
		return err
	}
	for _, i := range ifs {
		state := "down"
		if i.Up {
			state = "up"
		}
		s.printf("%-10s %-4s %-17s %s\n", i.Name, state, i.MAC, strings.Join(i.Addrs, " "))
	}
	return nil
}

// fwStatus is the part of GET /firmware/status the console shows.
type fwStatus struct {
	Upload struct {
		State   string
		Done    int64
		Total   int64
		Percent int
		Version string
		Error   string
	}
	Boot *struct {
		Active, Fallback string
		Pending          bool
		BootCount        int `json:"boot_count"`
		BootLimit        int `json:"boot_limit"`
		Reverted         string
	}
	Slots []struct {
		Name, Version, Arch, Problem string
		Present, Intact              bool
	}
}

func (s *Session) firmwareStatus(ctx context.Context) (*fwStatus, error) {
	code, raw, err := s.restRaw(ctx, http.MethodGet, "/firmware/status", nil, "")
	if err != nil {
		return nil, err
	}
	var st fwStatus
	if code == http.StatusNotFound {
		return nil, errNotWired("firmware update")
	}
	if code != http.StatusOK {
		var v any
		json.Unmarshal(raw, &v)
		return nil, restError(code, v)
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("firmware status: %v", err)
	}
	return &st, nil
}

func cmdFirmware(ctx context.Context, s *Session, args []string) error {
	if len(args) == 0 {
		args = []string{"status"}
	}
	switch {
	case args[0] == "status" && len(args) == 1:
		st, err := s.firmwareStatus(ctx)
		if err != nil {
			return err
		}
		if st.Boot == nil {
			s.println("boot           no image installed in the slots")
		} else {
			trial := ""
			if st.Boot.Pending {
				trial = fmt.Sprintf(" (on trial, start %d of %d, not yet confirmed)", st.Boot.BootCount, st.Boot.BootLimit)
			}
			s.printf("boot           slot %s%s\n", st.Boot.Active, trial)
			if st.Boot.Reverted != "" {
				s.printf("rolled back    from %s\n", st.Boot.Reverted)
			}
		}
		for _, sl := range st.Slots {
			switch {
			case !sl.Present:
				s.printf("slot %s         empty\n", sl.Name)
			case sl.Intact:
				s.printf("slot %s         %s %s, intact\n", sl.Name, sl.Version, sl.Arch)
			default:
				s.printf("slot %s         %s DAMAGED: %s\n", sl.Name, sl.Version, sl.Problem)
			}
		}
		if u := st.Upload; u.State != "" && u.State != "idle" {
			s.printf("last update    %s %s %s\n", u.State, u.Version, u.Error)
		}
		return nil
	case args[0] == "apply" && len(args) == 2:
		return s.firmwareApply(ctx, args[1])
	}
	return errors.New("usage: firmware status | firmware apply FILE")
}

// firmwareApply posts the image to /firmware in-process and shows the
// progress that /firmware/status reports while it runs.
func (s *Session) firmwareApply(ctx context.Context, path string) error {
	if _, err := s.firmwareStatus(ctx); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot read %s: %v", path, errors.Unwrap(err))
	}
	defer f.Close()
	type result struct {
		code int
		v    any
	}
	done := make(chan result, 1)
	go func() { // owned here: we wait for it below in every case
		code, v, _ := s.rest(ctx, http.MethodPost, "/firmware", f, "application/octet-stream")
		done <- result{code, v}
	}()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	last := ""
	for {
		select {
		case r := <-done:
			if r.code/100 != 2 {
				s.println("")
				return fmt.Errorf("update refused: %v", restError(r.code, r.v))
			}
			m, _ := r.v.(map[string]any)
			s.printf("\rinstalled %v; restart to run it on trial (it rolls back by itself if it does not come up healthy).\x1b[K\n", m["version"])
			return nil
		case <-t.C:
			// Progress is read straight from the upload handler while the
			// POST runs; the handler's mutex makes this safe.
			st, err := s.firmwareStatus(ctx)
			if err != nil {
				continue
			}
			line := fmt.Sprintf("\r%-8s %3d%% (%d/%d)\x1b[K", st.Upload.State, st.Upload.Percent, st.Upload.Done, st.Upload.Total)
			if line != last {
				s.out.WriteString(line)
				s.out.flush()
				last = line
			}
		}
	}
}

func cmdReboot(ctx context.Context, s *Session, args []string) error {
	if s.cfg.Reboot == nil {
		return errNotWired("reboot")
	}
	ok, err := s.confirm(ctx, "Reboot the gateway? Calls in progress are dropped.", "reboot")
	if err != nil || !ok {
		return err
	}
	s.println("rebooting.")
	s.out.flush()
	return s.cfg.Reboot()
}

func cmdFactoryReset(ctx context.Context, s *Session, args []string) error {
	if s.cfg.FactoryReset == nil {
		return errNotWired("factory reset")
	}
	ok, err := s.confirm(ctx, "This erases ALL configuration (a new admin key is made at restart); queued alarms are kept and still delivered.", api.FactoryResetConfirm)
	if err != nil || !ok {
		return err
	}
	s.println("resetting to factory state.")
	s.out.flush()
	return s.cfg.FactoryReset()
}

func cmdHW(ctx context.Context, s *Session, args []string) error {
	b := s.cfg.Board
	if b == nil {
		return errNotWired("the hardware view")
	}
	s.printf("board          %s\n", b.Kind)
	tamper := "closed"
	if b.Tamper.Active() {
		tamper = "OPEN"
	}
	s.printf("tamper         %s\n", tamper)
	switch {
	case b.Line == nil:
		s.println("line           none")
	case b.Line.OffHook():
		s.println("line           off hook")
	case b.Line.Ringing():
		s.println("line           ringing")
	default:
		s.println("line           on hook")
	}
	if b.Sim != nil && b.Sim.Line != nil {
		if n := b.Sim.Line.AnswersAt(); n > 0 {
			s.printf("pretend unit   answers ringing at ring %d (line answer)\n", n)
		} else {
			s.println("pretend unit   does not answer ringing (line answer off)")
		}
	}
	relay := "released"
	if b.Relay.On() {
		relay = "energised"
	}
	s.printf("relay          %s\n", relay)
	var lamps []string
	for l := hal.LEDPower; l <= hal.LEDNetwork; l++ {
		lamps = append(lamps, l.String()+" "+b.LEDs.Get(l).String())
	}
	s.printf("lamps          %s\n", strings.Join(lamps, ", "))
	if b.Watchdog != nil {
		s.printf("watchdog       %s timeout\n", b.Watchdog.Timeout())
	}
	return nil
}

func cmdRelay(ctx context.Context, s *Session, args []string) error {
	if s.cfg.Board == nil {
		return errNotWired("the relay")
	}
	if len(args) != 1 || (args[0] != "on" && args[0] != "off") {
		return errors.New("usage: relay on|off")
	}
	if err := s.cfg.Board.Relay.Set(args[0] == "on"); err != nil {
		return err
	}
	s.printf("relay %s.\n", args[0])
	return nil
}

func cmdLine(ctx context.Context, s *Session, args []string) error {
	if len(args) < 1 || args[0] != "simulate" && args[0] != "answer" {
		return errors.New("usage: line simulate --protocol P [--mode dtmf|sdmf] [--number N] [--event E] | line answer [--rings N|off]")
	}
	if s.cfg.LineSim == nil {
		return errNotWired("the simulated FXS line (serve --hw sim)")
	}
	if args[0] == "answer" {
		return cmdLineAnswer(ctx, s, args[1:])
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lines := make(chan string, 16)
	done := make(chan error, 1)
	go func() {
		done <- s.cfg.LineSim.SimulateLine(ctx, args[1:], lines)
		close(lines)
	}()
	if err := untilKey(ctx, s, lines, func(l string) string { return l }); err != nil {
		cancel()
		<-done
		return err
	}
	select {
	case err := <-done: // the unit is done (it sends before lines closes)
		if err != nil {
			return err
		}
		s.println("acknowledged.")
	default: // a key: the unit hangs up
		cancel()
		<-done
		s.println("stopped: the unit hung up.")
	}
	return nil
}

// cmdLineAnswer is `line answer`: the pretend unit's account of the ARC's
// call back as it happens; a key stops it (the unit hangs up if in the call).
func cmdLineAnswer(ctx context.Context, s *Session, args []string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lines := make(chan string, 16)
	type result struct {
		last string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		last, err := s.cfg.LineSim.AnswerLine(ctx, args, lines)
		done <- result{last, err}
		close(lines)
	}()
	err := untilKey(ctx, s, lines, func(l string) string { return l })
	cancel()
	r := <-done
	if err != nil {
		return err
	}
	if r.err != nil {
		return r.err
	}
	s.println(r.last)
	return nil
}
