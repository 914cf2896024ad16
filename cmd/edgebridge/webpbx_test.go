package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/edgebridge/edgebridge/internal/testkit"
)

// TestWebPagePBXFormsInChromium: the forms the page builds from the API's
// schemas for users, groups, call limits and media services, and the
// resources it finds in /openapi.json by itself (cloud SIP UAs), in a real
// browser against the real daemon: a user with an unknown device is refused
// at its field and saved once fixed, a group whose member is not a user is
// refused at the members field and saved once fixed, a limit is saved, and
// the alerts view lists the store-nearly-full alert the daemon raised at
// start (its store budget made tiny on the command line) and acknowledges
// it.
func TestWebPagePBXFormsInChromium(t *testing.T) {
	shots := os.Getenv("EDGEBRIDGE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	ctx, pe := newBrowser(t, t.TempDir())
	const key = "web-pbx-admin-key-0123456"
	d := startDaemon(t, t.TempDir(), nil, "--admin-key", key, "--rtp-ports", testkit.PortRangeArg(t, 20), "--store-budget", "1")
	if code, b, _ := d.req(key, "POST", "/provisioning/device/local", `{"deviceId":"1234","authType":"deviceid"}`); code != 200 {
		t.Fatalf("device: %d %s", code, b)
	}
	err := steps(ctx,
		chromedp.Navigate(d.url+"/"),
		chromedp.SendKeys(css("#signin-key"), key),
		chromedp.Click(css("#signin-submit")),
		chromedp.WaitVisible(css("#st-version")),
	)
	if err != nil {
		t.Fatalf("sign in: %v\n%s", err, d.log())
	}
	pe.probe(t, ctx)

	// A user: the device it names must exist.
	err = steps(ctx,
		chromedp.Click(css(`#nav a[href="#/user"]`)),
		chromedp.Click(css("#new-user")),
		chromedp.WaitVisible(css("#f-extensionNumber")),
		chromedp.SendKeys(css("#f-id"), "alice"),
		chromedp.SendKeys(css("#f-user"), "9999"),
		chromedp.SendKeys(css("#f-extensionNumber"), "201"),
		chromedp.Click(css("#save")),
		until(`document.querySelector('#f-user-err').textContent !== ''`, 10*time.Second),
		shot(shots, "30-user-error"),
	)
	if err != nil {
		t.Fatalf("user form: %v", err)
	}
	if got := eval[string](t, ctx, `document.querySelector('#f-user-err').textContent + '|' + document.querySelector('#f-user').getAttribute('aria-invalid') + '|' + document.activeElement.id`); !strings.Contains(got, `no device "9999"`) || !strings.HasSuffix(got, "|true|f-user") {
		t.Fatalf("user refusal shown as %q: want the rule at the user field, marked invalid and focused", got)
	}
	err = steps(ctx,
		setField("#f-user", "1234"),
		chromedp.Click(css("#save")),
		chromedp.WaitVisible(css("#form-result .notice.ok")),
		chromedp.Click(css(`#nav a[href="#/user"]`)),
		until(`[...document.querySelectorAll('#list-user tbody tr')].some(r => r.textContent.includes('alice') && r.textContent.includes('201'))`, 10*time.Second),
	)
	if err != nil {
		t.Fatalf("user saved and listed: %v", err)
	}
	if code, b, _ := d.req(key, "GET", "/provisioning/user/local/alice", ""); code != 200 || !strings.Contains(b, `"user":"1234"`) || !strings.Contains(b, `"extensionNumber":"201"`) {
		t.Fatalf("user alice over REST: %d %s", code, b)
	}

	// A group: every member must be a user.
	err = steps(ctx,
		chromedp.Click(css(`#nav a[href="#/group"]`)),
		chromedp.Click(css("#new-group")),
		chromedp.WaitVisible(css("#f-members")),
		chromedp.SendKeys(css("#f-id"), "wardens"),
		chromedp.SendKeys(css("#f-groupName"), "Wardens"),
		chromedp.SendKeys(css("#f-extensionNumber"), "300"),
		setField("#f-ringStrategy", "huntLongestIdle"),
		setField("#f-members", `[{"userId":"bob","ringOrder":1}]`),
		chromedp.Click(css("#save")),
		until(`document.querySelector('#f-members-err').textContent !== ''`, 10*time.Second),
		shot(shots, "31-group-error"),
	)
	if err != nil {
		t.Fatalf("group form: %v", err)
	}
	if got := eval[string](t, ctx, `document.querySelector('#f-members-err').textContent`); !strings.Contains(got, `no user "bob"`) {
		t.Fatalf("group refusal at members: %q", got)
	}
	err = steps(ctx,
		setField("#f-members", `[{"userId":"alice","ringOrder":1}]`),
		chromedp.Click(css("#save")),
		chromedp.WaitVisible(css("#form-result .notice.ok")),
		shot(shots, "32-group-saved"),
	)
	if err != nil {
		t.Fatalf("group saved: %v", err)
	}
	if code, b, _ := d.req(key, "GET", "/provisioning/group/local/wardens", ""); code != 200 || !strings.Contains(b, `"ringStrategy":"huntLongestIdle"`) || !strings.Contains(b, `"userId":"alice"`) {
		t.Fatalf("group wardens over REST: %d %s", code, b)
	}

	// A call limit.
	err = steps(ctx,
		chromedp.Click(css(`#nav a[href="#/limit"]`)),
		chromedp.Click(css("#new-limit")),
		chromedp.WaitVisible(css("#f-quantity")),
		chromedp.SendKeys(css("#f-category"), "voice_call_session"),
		chromedp.SendKeys(css("#f-quantity"), "2"),
		chromedp.Click(css("#save")),
		chromedp.WaitVisible(css("#form-result .notice.ok")),
	)
	if err != nil {
		t.Fatalf("limit form: %v", err)
	}
	if code, b, _ := d.req(key, "GET", "/provisioning/limit/local/voice_call_session", ""); code != 200 || !strings.Contains(b, `"quantity":2`) {
		t.Fatalf("limit over REST: %d %s", code, b)
	}

	// Media services have their form; cloud SIP UAs, which the page's
	// table does not name, are found in /openapi.json and get theirs.
	err = steps(ctx,
		chromedp.Click(css(`#nav a[href="#/mediaservice"]`)),
		chromedp.Click(css("#new-mediaservice")),
		chromedp.WaitVisible(css("#f-callbackBaseUrl")),
		chromedp.Click(css(`#nav a[href="#/cloudsipua"][data-discovered]`)),
		chromedp.Click(css("#new-cloudsipua")),
		chromedp.WaitVisible(css("#f-callbackBaseUrl")),
		chromedp.WaitVisible(css("#f-destinationMatch")),
		shot(shots, "33-cloudsipua-form"),
	)
	if err != nil {
		t.Fatalf("media service and cloud SIP UA forms: %v", err)
	}

	// The alerts the daemon raised, listed.
	err = steps(ctx,
		chromedp.Click(css(`#nav a[href="#/alerts"]`)),
		until(`[...document.querySelectorAll('#list-alerts tbody tr')].some(r => r.dataset.type === 'store-nearly-full' && r.textContent.includes('raised') && r.textContent.includes('budget of 1'))`, 10*time.Second),
		shot(shots, "34-alerts"),
		// Acknowledged by the installer: the button goes, the state says so.
		chromedp.Click(css(`#list-alerts tr[data-type="store-nearly-full"] button`)),
		until(`[...document.querySelectorAll('#list-alerts tbody tr')].some(r => r.dataset.type === 'store-nearly-full' && r.textContent.includes('acknowledged') && !r.querySelector('button'))`, 10*time.Second),
		setField("#alert-type", "no-carrier"),
		until(`document.querySelector('#list-alerts').textContent === 'No alerts.'`, 10*time.Second),
	)
	if err != nil {
		t.Fatalf("alerts view: %v\n%s", err, d.log())
	}
	if code, b, _ := d.req(key, "GET", "/provisioning/alerts/local?alert_type=store-nearly-full", ""); code != 200 || !strings.Contains(b, `"acknowledged":true`) {
		t.Fatalf("the acknowledgement over REST: %d %s", code, b)
	}
	pe.check(t)
}
