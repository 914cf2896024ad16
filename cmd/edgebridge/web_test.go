package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/engine/pcap"
	"github.com/edgebridge/edgebridge/firmware"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// pageErrors collects what the page's JavaScript reports as wrong: uncaught
// exceptions, console.error and console.assert, and the browser's own log
// errors (a CSP violation is one). A refused API call (4xx) is logged by the
// browser under "network" and is not the page's fault: the validation test
// provokes one on purpose.
type pageErrors struct {
	mu   sync.Mutex
	errs []string
}

func (p *pageErrors) listen(ctx context.Context) {
	msgs := chromedp.Console(ctx) // subscribes now; read until the browser goes
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type != chromedp.ConsoleError && m.Type != chromedp.ConsoleException && m.Type != "assert" {
				continue
			}
			if m.Source == "network" {
				continue
			}
			p.mu.Lock()
			p.errs = append(p.errs, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line+1))
			p.mu.Unlock()
		}
	}()
}

// probe proves the collection works in this run: a console.error from the
// page must arrive, and is then forgotten.
func (p *pageErrors) probe(t *testing.T, ctx context.Context) {
	t.Helper()
	eval[chromedp.Void](t, ctx, `void console.error('edgebridge test probe')`)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		p.mu.Lock()
		got := len(p.errs) == 1 && strings.Contains(p.errs[0], "edgebridge test probe")
		if got {
			p.errs = nil
		}
		p.mu.Unlock()
		if got {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the console error collector did not see a console.error: %v", p.errs)
		}
	}
}

func (p *pageErrors) check(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.errs {
		t.Errorf("page JavaScript error: %s", e)
	}
}

// newBrowser starts headless Chromium (no sandbox: CI runs as root) with
// downloads going to dlDir, and returns its context.
func newBrowser(t *testing.T, dlDir string) (context.Context, *pageErrors) {
	t.Helper()
	if testing.Short() {
		t.Skip("headless Chromium: not under -short")
	}
	chrome, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("the web page tests need chromium (make deps installs it): ", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no deadline
		t.Fatalf("start chromium: %v", err)
	}
	// Every wait below ends by this deadline; the browser itself lives
	// until the test ends.
	ctx, cancelRun := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancelRun)
	pe := &pageErrors{}
	pe.listen(ctx)
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dlDir}); err != nil {
		t.Fatalf("downloads: %v", err)
	}
	return ctx, pe
}

// shot saves a full-page PNG of the current view as NAME.png in dir.
func shot(dir, name string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		png, err := chromedp.FullScreenshot(100)(ctx, t)
		if err != nil {
			return chromedp.Void{}, err
		}
		return chromedp.Void{}, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
	}
}

// until waits (in the page) for a JavaScript condition to hold, for at most d.
func until(cond string, d time.Duration) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		// An element the condition reads may not be there yet: not yet true.
		expr := `(() => { try { return !!(` + cond + `) } catch (e) { return false } })()`
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(20*time.Millisecond))(ctx, t)
		if err != nil {
			err = fmt.Errorf("waiting for %s: %w", cond, err)
		}
		return chromedp.Void{}, err
	}
}

func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// steps runs actions one by one, each within 20 s, and names the one that
// failed.
func steps(ctx context.Context, actions ...chromedp.Action[chromedp.Void]) error {
	for i, a := range actions {
		c, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := chromedp.Do(c, a)
		cancel()
		if err != nil {
			return fmt.Errorf("step %d: %w", i+1, err)
		}
	}
	return nil
}

// setField sets a form control's value and fires its input and change
// events, as a user's pick or typing does.
func setField(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.SetValue(css(sel), value)
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// TestWebPageInChromium is the installer's page in a real browser against
// the real daemon on a real bbolt file: sign in, provision the README's
// demo through the forms (device, event mapper, alarmbridge) with a bad
// destinationMatch first, see the simulated alarm arrive on the status view
// within a second of its kissoff, download a call's SIP pcap, send a test
// alarm, page a list with nextToken, and use the raw JSON view; a
// screenshot of each view is saved, and the page's JavaScript reports no
// error.
func TestWebPageInChromium(t *testing.T) {
	shots := os.Getenv("EDGEBRIDGE_SCREENSHOTS") // keep them for a look; else the test's temp folder
	if shots == "" {
		shots = t.TempDir()
	}
	dl := t.TempDir()
	ctx, pe := newBrowser(t, dl)
	const key = "web-test-admin-key-0123456"
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	d := startDaemon(t, t.TempDir(), nil, "--admin-key", key, "--rtp-ports", testkit.PortRangeArg(t, 100))
	t.Logf("screenshots in %s", shots)

	// Sign in.
	err := chromedp.Do(ctx,
		chromedp.Navigate(d.url+"/"),
		chromedp.WaitVisible(css("#signin-key")),
		shot(shots, "01-signin"),
	)
	if err != nil {
		t.Fatalf("sign-in page: %v\n%s", err, d.log())
	}
	// Signed out, the sections and "Sign out" are not shown (a display rule
	// of the page's stylesheet once overrode the hidden attribute).
	if shown := eval[bool](t, ctx, `document.querySelector('#nav').offsetParent !== null`); shown {
		t.Fatal("the navigation is shown before sign-in")
	}
	err = chromedp.Do(ctx,
		chromedp.SendKeys(css("#signin-key"), key+kb.Enter), // the keyboard alone signs in
		chromedp.WaitVisible(css("#st-version")),
		chromedp.WaitVisible(css("#nav")),
		until(`document.querySelector('#st-sip .up') !== null && document.querySelector('#footer-version').textContent.startsWith('edgebridge')`, 10*time.Second),
		shot(shots, "02-status-empty"),
	)
	if err != nil {
		t.Fatalf("sign in: %v\n%s", err, d.log())
	}
	pe.probe(t, ctx)
	if stored := eval[string](t, ctx, `sessionStorage.getItem('eb.key') + '|' + document.cookie`); stored != key+"|" {
		t.Fatalf("key kept as %q (want it in sessionStorage and no cookie)", stored)
	}

	// A device through the form; a credentials device gets a generated
	// password, shown once.
	err = chromedp.Do(ctx,
		chromedp.SendKeys(css(`#nav a[href="#/device"]`), kb.Enter), // links work from the keyboard
		chromedp.SendKeys(css("#new-device"), kb.Enter),
		chromedp.WaitVisible(css("#f-deviceId")),
		chromedp.SendKeys(css("#f-deviceId"), "1234"),
		setField("#f-authType", "deviceid"),
		shot(shots, "03-device-form"),
		chromedp.Click(css("#save")),
		chromedp.WaitVisible(css("#form-result .notice.ok")),
		chromedp.Click(css(`#nav a[href="#/device"]`)),
		chromedp.Click(css("#new-device")),
		chromedp.WaitVisible(css("#f-deviceId")),
		chromedp.SendKeys(css("#f-deviceId"), "ata1"),
		setField("#f-authType", "credentials"),
		chromedp.Click(css("#save")),
		chromedp.WaitVisible(css("#password-value")),
		shot(shots, "04-device-password"),
	)
	if err != nil {
		t.Fatalf("device form: %v", err)
	}
	password := eval[string](t, ctx, `document.querySelector('#password-value').textContent`)
	if len(password) < 12 {
		t.Fatalf("generated password %q", password)
	}
	if code, b, _ := d.req(key, "GET", "/provisioning/device/local/ata1", ""); code != 200 || strings.Contains(b, password) {
		t.Fatalf("device ata1: %d %s (the password must not come back)", code, b)
	}

	// The event mapper toward the ARC, then the alarmbridge: first with a
	// bad destinationMatch, whose refusal shows at that field.
	err = chromedp.Do(ctx,
		chromedp.Click(css(`#nav a[href="#/alarmeventmapper"]`)),
		chromedp.Click(css("#new-alarmeventmapper")),
		chromedp.WaitVisible(css("#f-targetEndpoint_destAddr")),
		chromedp.SendKeys(css("#f-id"), "arc"),
		chromedp.SendKeys(css("#f-name"), "ARC"),
		setField("#f-alarmHandling", "drop"),
		setField("#f-targetEndpoint_protocol", "dc09"),
		chromedp.SendKeys(css("#f-targetEndpoint_destAddr"), "dc09://"+arc.Addr+"?transport=tcp"),
		shot(shots, "05-mapper-form"),
		chromedp.Click(css("#save")),
		chromedp.WaitVisible(css("#form-result .notice.ok")),

		chromedp.Click(css(`#nav a[href="#/alarmbridge"]`)),
		chromedp.Click(css("#new-alarmbridge")),
		chromedp.WaitVisible(css("#f-destinationMatch")),
		chromedp.SendKeys(css("#f-id"), "panels"),
		chromedp.SendKeys(css("#f-name"), "panels"),
		setField("#f-protocol", "contactid"),
		setField("#f-protocolMode", "dtmf"),
		chromedp.SendKeys(css("#f-destinationMatch"), "^5551($"),
		chromedp.SendKeys(css("#f-alarmEventMapperId"), "arc"),
		chromedp.Click(css("#save")),
		until(`document.querySelector('#f-destinationMatch-err').textContent !== ''`, 10*time.Second),
		shot(shots, "06-alarmbridge-error"),
	)
	if err != nil {
		t.Fatalf("mapper and alarmbridge forms: %v", err)
	}
	fieldErr := eval[string](t, ctx, `document.querySelector('#f-destinationMatch-err').textContent`)
	invalid := eval[string](t, ctx, `document.querySelector('#f-destinationMatch').getAttribute('aria-invalid') + '|' + document.activeElement.id`)
	if !strings.Contains(fieldErr, "regular expression") || invalid != "true|f-destinationMatch" {
		t.Fatalf("destinationMatch error %q, field state %q: want the rule at the field, marked invalid and focused", fieldErr, invalid)
	}
	if other := eval[string](t, ctx, `[...document.querySelectorAll('.fielderr')].filter(e => e.id !== 'f-destinationMatch-err' && e.textContent).map(e => e.id).join()`); other != "" {
		t.Fatalf("errors shown at other fields: %q", other)
	}
	err = chromedp.Do(ctx,
		setField("#f-destinationMatch", "^5551$"),
		chromedp.Click(css("#save")),
		chromedp.WaitVisible(css("#form-result .notice.ok")),
		until(`document.querySelector('#f-destinationMatch-err').textContent === ''`, 5*time.Second),
		chromedp.Click(css(`#nav a[href="#/alarmbridge"]`)),
		chromedp.WaitVisible(css("#list-alarmbridge")),
		shot(shots, "07-alarmbridge-list"),
		// Edit: the form comes filled in, the id cannot change.
		chromedp.Click(css(`#list-alarmbridge a[href="#/alarmbridge/edit/panels"]`)),
		until(`document.querySelector('#f-name').value === 'panels' && document.querySelector('#f-destinationMatch').value === '^5551$' && document.querySelector('#f-id').disabled`, 5*time.Second),
		setField("#f-name", "panels on site"),
		chromedp.Click(css("#save")),
		chromedp.WaitVisible(css("#form-result .notice.ok")),
	)
	if err != nil {
		t.Fatalf("alarmbridge saved and edited: %v", err)
	}
	if code, b, _ := d.req(key, "GET", "/provisioning/alarmbridge/local/panels", ""); code != 200 || !strings.Contains(b, `"panels on site"`) || !strings.Contains(b, `"alarmEventMapperId":"arc"`) {
		t.Fatalf("edited alarmbridge: %d %s", code, b)
	}

	// A panel calls; the alarm shows on the status view within a second of
	// its kissoff (the event is queued before the kissoff, and the page
	// hears of it over /gateway/events).
	if err := chromedp.Do(ctx, chromedp.Click(css(`#nav a[href="#/status"]`)), chromedp.WaitVisible(css("#st-version"))); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"simulate", "--to", "sip:5551@" + d.sipAddr(t), "--event", "1234,1,130,01,015", "--calls", "1"}, &out, &errb); code != 0 {
		t.Fatalf("simulate exit %d\n%s%s\ndaemon:\n%s", code, out.String(), errb.String(), d.log())
	}
	const seen = `[...document.querySelectorAll('#recent-alarms tbody tr')].some(r => r.cells[1].textContent === '1234' && r.cells[2].textContent === '1130')`
	if err := chromedp.Do(ctx, until(seen, time.Second)); err != nil {
		t.Fatalf("the alarm did not show on the status view within a second of the kissoff: %v", err)
	}
	if got := arc.Wait(1, 10*time.Second); len(got) != 1 || got[0].Data != "#1234|1130 01 015" {
		t.Fatalf("ARC got %+v", got)
	}
	if err := chromedp.Do(ctx,
		until(`[...document.querySelectorAll('#recent-alarms tbody tr')].some(r => r.cells[5].textContent === 'delivered')`, 10*time.Second),
		shot(shots, "08-status-alarm"),
	); err != nil {
		t.Fatalf("the alarm is not shown delivered: %v", err)
	}

	// Field service: the SIP log of that call and its pcap; a test alarm
	// through the chosen mapper.
	err = chromedp.Do(ctx,
		chromedp.Click(css(`#nav a[href="#/service"]`)),
		chromedp.WaitVisible(css("#siplog-search")),
		chromedp.SendKeys(css("#f-filterPattern"), "INVITE"),
		chromedp.Click(css("#siplog-search")),
		chromedp.WaitVisible(css("#siplog-table button.pcap")),
		chromedp.Click(css("#siplog-table button.pcap")),
		chromedp.WaitVisible(css("#form-siplog .notice.ok")),
	)
	if err != nil {
		t.Fatalf("SIP log: %v", err)
	}
	callID := eval[string](t, ctx, `document.querySelector('#siplog-table button.pcap').dataset.call`)
	var files []string
	for deadline := time.Now().Add(10 * time.Second); len(files) != 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(dl)
			t.Fatalf("no finished .pcap download in %s: %v", dl, entries)
		}
		files, _ = filepath.Glob(filepath.Join(dl, "*.pcap")) // Chromium writes NAME.crdownload until done
	}
	pcapFile, _ := os.ReadFile(files[0])
	pkts, err := pcap.ReadUDP(pcapFile)
	if err != nil || len(pkts) < 2 {
		t.Fatalf("downloaded %s: %d packets, %v; want the call's SIP messages", files[0], len(pkts), err)
	}
	for _, p := range pkts {
		if !bytes.Contains(p.Payload, []byte(callID)) {
			t.Fatalf("the pcap holds a message of another call than %s:\n%s", callID, p.Payload)
		}
	}
	err = chromedp.Do(ctx,
		setField("#f-alarmEventMapperId", "arc"),
		chromedp.SendKeys(css("#f-account"), "4321"),
		chromedp.Click(css("#send-test")),
		chromedp.WaitVisible(css("#test-result .notice.ok")),
		until(`[...document.querySelectorAll('#service-recent-table tbody tr')].some(r => r.cells[1].textContent === '4321' && r.querySelector('.badge.test'))`, 10*time.Second),
		shot(shots, "09-service"),
	)
	if err != nil {
		t.Fatalf("test alarm: %v", err)
	}
	if got := arc.Wait(2, 10*time.Second); len(got) != 2 || got[1].Data != "#4321|1601 00 000" {
		t.Fatalf("ARC got %+v, want the test alarm second", got)
	}

	// Lists page with nextToken like the API.
	for i := range 12 {
		if code, b, _ := d.req(key, "PUT", "/provisioning/device/local", fmt.Sprintf(`{"deviceId":"p%02d","authType":"deviceid"}`, i)); code != 200 {
			t.Fatalf("device p%02d: %d %s", i, code, b)
		}
	}
	err = chromedp.Do(ctx,
		chromedp.Click(css(`#nav a[href="#/device"]`)),
		chromedp.WaitVisible(css("#page-size")),
		setField("#page-size", "10"),
		until(`document.querySelectorAll('#list-device tbody tr').length === 10 && document.querySelector('#next-device') !== null`, 5*time.Second),
		chromedp.Click(css("#next-device")),
		until(`document.querySelectorAll('#list-device tbody tr').length === 4 && document.querySelector('#next-device') === null`, 5*time.Second),
		shot(shots, "10-device-list-page2"),
	)
	if err != nil {
		t.Fatalf("paging 14 devices by 10 (10, then 4 and no next page): %v", err)
	}

	// The raw JSON view of any resource.
	err = chromedp.Do(ctx,
		chromedp.Click(css(`#nav a[href="#/raw"]`)),
		chromedp.WaitVisible(css("#raw-path")),
		setField("#raw-path", "/provisioning/alarmbridge/local/panels"),
		chromedp.Click(css("#raw-send")),
		until(`document.querySelector('#raw-out').textContent.startsWith('200')`, 5*time.Second),
		shot(shots, "11-raw"),
	)
	raw := eval[string](t, ctx, `document.querySelector('#raw-out').textContent`)
	if err != nil || !strings.Contains(raw, `"destinationMatch": "^5551$"`) {
		t.Fatalf("raw GET: %v\n%s", err, raw)
	}

	// On a phone's screen.
	err = chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Click(css(`#nav a[href="#/status"]`)),
		chromedp.WaitVisible(css("#recent-alarms")),
		shot(shots, "12-status-phone"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if eval[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth + 1`) {
		t.Fatal("the status view is wider than a phone's screen")
	}
	pe.check(t)
}

// TestWebPageServiceAndKeysInChromium: the rest of the page in a real
// browser against the daemon started with --https: the footer shows the
// certificate's fingerprint; a signed firmware image uploads with its
// progress bar and lands in slot a; trusted networks, trunks and
// notification settings save through their forms (a bad network is refused
// at its field); an API key made on the page is shown once and signs in for
// its domain only, where the admin-only firmware says so; and the factory
// reset, once confirmed, erases and restarts the gateway.
func TestWebPageServiceAndKeysInChromium(t *testing.T) {
	shots := os.Getenv("EDGEBRIDGE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	ctx, pe := newBrowser(t, t.TempDir())
	const key = "web-test-admin-key-6543210"
	data, work := t.TempDir(), t.TempDir()
	signer := filepath.Join(work, "signer")
	if c, _, e := fw("keygen", "--out", signer); c != 0 {
		t.Fatalf("keygen: %s", e)
	}
	if err := os.MkdirAll(filepath.Join(data, "firmware"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "firmware", "trusted.pub"), mustRead(t, signer+".pub"), 0o600); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(work, "fw.img")
	if c, _, e := fw("build", "--arch", goruntime.GOARCH, "--bin", staticHello(t, work), "--key", signer+".key", "--version", "9.9.9", "--out", img); c != 0 {
		t.Fatalf("firmware build: %s", e)
	}
	rtp := testkit.PortRangeArg(t, 100)
	d := startDaemon(t, data, []string{firmware.RootEnv + "="}, "--admin-key", key, "--https", "127.0.0.1:0", "--rtp-ports", rtp)
	_, fp := d.httpsOf(t)

	err := chromedp.Do(ctx,
		chromedp.Navigate(d.url+"/"),
		chromedp.SendKeys(css("#signin-key"), key),
		chromedp.Click(css("#signin-submit")),
		chromedp.WaitVisible(css("#st-version")),
		until(`document.querySelector('#footer-tls').textContent.includes('`+fp+`')`, 10*time.Second),
	)
	if err != nil {
		t.Fatalf("sign in, fingerprint %s in the footer: %v", fp, err)
	}
	pe.probe(t, ctx)

	// An alarm for an ARC that is down waits in the delivery queue with its
	// error (the page follows the queue as it changes); "retry now" sends
	// it again at once.
	dead := freePort(t)
	if code, b, _ := d.req(key, "POST", "/provisioning/alarmeventmapper/local",
		`{"id":"dead","name":"dead ARC","alarmHandling":"drop","targetEndpoint":{"protocol":"dc09","destAddr":"dc09://`+dead+`?transport=tcp"}}`); code != 200 {
		t.Fatalf("mapper: %d %s", code, b)
	}
	if code, b, _ := d.req(key, "POST", "/alarmbridge/local/testalarm", `{"alarmEventMapperId":"dead","account":"5555"}`); code != 200 {
		t.Fatalf("test alarm: %d %s", code, b)
	}
	err = steps(ctx,
		chromedp.Click(css(`#nav a[href="#/service"]`)),
		chromedp.WaitVisible(css("#queue-refresh")),
		until(`[...document.querySelectorAll('#queue-table tbody tr')].some(r => r.cells[1].textContent === '5555' && r.cells[5].textContent.includes('last error') && +r.cells[6].textContent >= 1)`, 15*time.Second),
		chromedp.Click(css("#retry-now")),
		until(`document.querySelector('#queue-box').parentElement.textContent.includes('being sent again now')`, 5*time.Second),
		shot(shots, "20-queue-retry"),
	)
	if err != nil {
		t.Fatalf("delivery queue: %v", err)
	}

	// Firmware: upload with progress, then the A/B slot state.
	err = chromedp.Do(ctx,
		chromedp.Click(css(`#nav a[href="#/service"]`)),
		chromedp.WaitVisible(css("#fw-upload")),
		until(`document.querySelector('#fw-state').textContent.includes('no image in the slots')`, 5*time.Second),
		chromedp.SetUploadFiles(css("#fw-file"), []string{img}),
		chromedp.Click(css("#fw-upload")),
		until(`document.querySelector('#firmware .notice.ok') !== null`, 30*time.Second),
		until(`document.querySelector('#fw-progress').value === 100 && /Slot a\s*9\.9\.9/.test(document.querySelector('#fw-state').textContent)`, 10*time.Second),
		shot(shots, "21-firmware"),
	)
	if err != nil {
		t.Fatalf("firmware upload: %v", err)
	}

	// Trusted networks (a bad one refused at its field), a trunk,
	// notification settings.
	err = chromedp.Do(ctx,
		chromedp.Click(css(`#nav a[href="#/trustednetwork"]`)),
		chromedp.Click(css("#new-trustednetwork")),
		chromedp.WaitVisible(css("#f-network")),
		chromedp.SendKeys(css("#f-network"), "10.0.0.0/33"),
		chromedp.Click(css("#save")),
		until(`document.querySelector('#f-network-err').textContent.includes('CIDR')`, 5*time.Second),
		shot(shots, "22-trustednetwork-error"),
		setField("#f-network", "10.20.0.0/16"),
		chromedp.SendKeys(css("#f-id"), "office"),
		chromedp.Click(css("#save")),
		chromedp.WaitVisible(css("#form-result .notice.ok")),

		chromedp.Click(css(`#nav a[href="#/trunk"]`)),
		chromedp.Click(css("#new-trunk")),
		chromedp.WaitVisible(css("#f-destinationTarget")),
		chromedp.SendKeys(css("#f-destinationTarget"), "127.0.0.1:5999"),
		setField("#f-destinationTransport", "udp"),
		chromedp.SendKeys(css("#f-destinationMatch"), "^00"),
		chromedp.Click(css("#save")),
		chromedp.WaitVisible(css("#form-result .notice.ok")),
		shot(shots, "23-trunk"),

		chromedp.Click(css(`#nav a[href="#/notificationsettings"]`)),
		chromedp.WaitVisible(css("#f-alarmbridgeCallbackEndpoint")),
		chromedp.SendKeys(css("#f-alarmbridgeCallbackEndpoint"), "https://arc.example.net/cb"),
		chromedp.Click(css("#save")),
		chromedp.WaitVisible(css("#form-notificationsettings .notice.ok")),
		shot(shots, "24-notifications"),
	)
	if err != nil {
		chromedp.Do(ctx, shot(shots, "debug"))
		t.Fatalf("configuration forms: %v", err)
	}
	for path, want := range map[string]string{
		"/provisioning/trustednetwork/local/office":    `"10.20.0.0/16"`,
		"/provisioning/trunk/local":                    `"127.0.0.1:5999"`,
		"/provisioning/notificationsettings/local":     `"https://arc.example.net/cb"`,
		"/provisioning/trustednetwork/local?limit=100": `"office"`,
	} {
		if code, b, _ := d.req(key, "GET", path, ""); code != 200 || !strings.Contains(b, want) {
			t.Fatalf("GET %s: %d %s, want %s", path, code, b, want)
		}
	}

	// An API key made on the page, shown once, signs in for its domain.
	err = chromedp.Do(ctx,
		chromedp.Click(css(`#nav a[href="#/apikey"]`)),
		chromedp.WaitVisible(css("#make-key")),
		chromedp.Click(css("#make-key")),
		chromedp.WaitVisible(css("#new-key strong")),
		chromedp.WaitVisible(css("#list-apikey")),
		until(`!document.querySelector('#list-apikey').parentElement.textContent.includes('null')`, 5*time.Second),
		shot(shots, "25-apikey"),
	)
	if err != nil {
		t.Fatalf("API key: %v", err)
	}
	domainKey := eval[string](t, ctx, `document.querySelector('#new-key strong').textContent`)
	if !strings.HasPrefix(domainKey, "eb_") {
		t.Fatalf("made key %q", domainKey)
	}
	err = steps(ctx,
		chromedp.Click(css("#signout")),
		chromedp.WaitVisible(css("#signin-key")),
		chromedp.SendKeys(css("#signin-key"), domainKey),
		setField("#signin-domain", "other"),
		chromedp.Click(css("#signin-submit")),
		until(`document.querySelector('#signin-error').textContent.includes('not valid for domain other')`, 5*time.Second),
		setField("#signin-domain", "local"),
		chromedp.Click(css("#signin-submit")),
		chromedp.WaitVisible(css("#list-apikey")), // back where it was, now with the domain's key
		chromedp.Click(css(`#nav a[href="#/service"]`)),
		until(`document.querySelector('#fw-state').textContent.includes('needs the admin key')`, 5*time.Second),
		shot(shots, "26-service-domain-key"),
	)
	if err != nil {
		chromedp.Do(ctx, shot(shots, "debug"))
		t.Fatalf("sign in with the domain key: %v", err)
	}
	if got := eval[string](t, ctx, `sessionStorage.getItem('eb.key')`); got != domainKey {
		t.Fatalf("session holds %q, want the domain key", got)
	}

	// Factory reset needs the admin and the typed confirmation.
	err = steps(ctx,
		chromedp.Click(css("#signout")),
		chromedp.WaitVisible(css("#signin-key")),
		chromedp.SendKeys(css("#signin-key"), key),
		chromedp.Click(css("#signin-submit")),
		chromedp.WaitVisible(css("#fw-state")), // the service page it was on
		chromedp.WaitVisible(css("#reset-confirm")),
		until(`document.querySelector('#reset').disabled`, 5*time.Second),
		chromedp.SendKeys(css("#reset-confirm"), "erase everything"),
		until(`!document.querySelector('#reset').disabled`, 5*time.Second),
		shot(shots, "27-reset"),
		chromedp.Click(css("#reset")),
		until(`document.querySelector('#signin-error').textContent.includes('erased its configuration')`, 10*time.Second),
	)
	if err != nil {
		t.Fatalf("factory reset: %v", err)
	}
	select {
	case <-d.exited:
	case <-time.After(5 * time.Second):
		t.Fatal("the daemon did not restart after the factory reset")
	}
	if _, err := os.Stat(filepath.Join(data, "firmware", "slots")); err != nil {
		t.Fatalf("the firmware slots went with the configuration: %v", err)
	}
	d2 := startDaemon(t, data, nil, "--admin-key", key, "--rtp-ports", rtp)
	if code, _, _ := d2.req(key, "GET", "/provisioning/trustednetwork/local/office", ""); code != 404 {
		t.Fatalf("trusted network after the factory reset: %d", code)
	}
	pe.check(t)
}
