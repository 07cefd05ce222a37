package console_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestBrowser drives the console in headless Chromium against a real
// `cuttle up --demo 20`, through the steps of the console's acceptance
// test, saving a screenshot of each. It needs Debian's chromium; without
// it the test skips, unless CUTTLE_REQUIRE_CHROMIUM=1 (as in CI).
// Screenshots go to $CUTTLE_ARTIFACTS if set, else to t.ArtifactDir()
// (kept with `go test -artifacts`).
func TestBrowser(t *testing.T) {
	browser := findChromium()
	if browser == "" {
		if os.Getenv("CUTTLE_REQUIRE_CHROMIUM") == "1" {
			t.Fatal("chromium not found, and CUTTLE_REQUIRE_CHROMIUM=1")
		}
		t.Skip("chromium not found (apt-get install chromium); set CUTTLE_REQUIRE_CHROMIUM=1 to fail instead")
	}
	if testing.Short() {
		t.Skip("starts cuttle up and a browser")
	}
	shots := os.Getenv("CUTTLE_ARTIFACTS")
	if shots == "" {
		shots = t.ArtifactDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)

	up := startUp(t, 20)
	cuttleAPI := &apiClient{base: up.url, token: up.token}

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.WindowSize(1366, 900),
		chromedp.UserDataDir(t.TempDir()))...)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelTab)
	// The whole test is bounded; each step has its own, shorter bound.
	ctx, cancel := context.WithTimeout(ctx, 6*time.Minute)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", browser, err)
	}
	var consoleErrs consoleLog
	consoleErrs.watch(ctx, t)

	b := &driver{t: t, ctx: ctx, shots: shots}

	// 1. Sign in and see 20 devices online.
	b.step("1-signin-dashboard", 60*time.Second, func(ctx context.Context) error {
		if err := chromedp.Do(ctx,
			chromedp.Navigate(up.url+"/"),
			chromedp.WaitVisible(chromedp.CSS(`input[name="token"]`)),
			// A wrong token is refused with a readable message.
			chromedp.SendKeys(chromedp.CSS(`input[name="token"]`), "cut_wrong"),
			chromedp.Click(chromedp.CSS(`form.signin button[type="submit"]`), chromedp.NodeVisible),
			b.waitFor(`document.querySelector('form.signin .error')?.textContent.includes('not accepted') && !document.querySelector('#nav a')`, 10*time.Second),
		); err != nil {
			return err
		}
		b.screenshot("1a-signin-refused")
		return chromedp.Do(ctx,
			chromedp.Evaluate[chromedp.Void](`document.querySelector('input[name="token"]').value = ''; 0`),
			chromedp.SendKeys(chromedp.CSS(`input[name="token"]`), up.token),
			chromedp.Click(chromedp.CSS(`form.signin button[type="submit"]`), chromedp.NodeVisible),
			b.waitFor(`document.querySelector('[data-stat="Online"] .card-value')?.textContent === '20'`, 45*time.Second),
			b.waitFor(`document.querySelectorAll('.bars li').length >= 2 && document.querySelector('.who strong')?.textContent === 'admin'`, 10*time.Second),
			// Live over /api/v1/stats/stream; the broker counts the 20
			// devices and the controller.
			b.waitFor(`document.querySelector('.live .badge')?.textContent === 'live'`, 20*time.Second),
			b.waitFor(`Number(document.querySelector('[data-stat="Broker connections"] .card-value')?.textContent) >= 21`, 20*time.Second),
			b.waitFor(`document.querySelectorAll('svg.spark rect').length === 15`, 10*time.Second),
		)
	})

	// The explorer's client-side checks of values before a Set, and its
	// mapping of instance paths to the supported data model.
	b.step("1b-client-checks", 20*time.Second, func(ctx context.Context) error {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(async () => {
			const m = await import(document.querySelector('script[type=module]').src.replace('app.js', 'pages/explorer.js'));
			return [m.validate('unsignedInt', '-1'), m.validate('int', '-12'), m.validate('boolean', 'yes'), m.validate('boolean', 'true'),
				m.validate('int', '2147483648'), m.validate('hexBinary', 'abc'), m.validate('string', 'x'),
				m.schemaPath('Device.WiFi.SSID.12.Stats.')];
		})()`, chromedp.EvalAwaitPromise))
		if err != nil {
			return err
		}
		want := []string{"must be a whole number, 0 or more", "", "must be true or false", "", "is out of range for int",
			"must be hexadecimal, two digits a byte", "", "Device.WiFi.SSID.{i}.Stats."}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("got %q, want %q", got, want)
		}
		return nil
	})

	// 2. Open a device and read Device.DeviceInfo.SoftwareVersion in the explorer.
	var device struct {
		EndpointID      string `json:"endpoint_id"`
		SoftwareVersion string `json:"software_version"`
	}
	b.step("2-explorer-software-version", 90*time.Second, func(ctx context.Context) error {
		if err := chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`#nav a[href="#/devices"]`), chromedp.NodeVisible),
			b.waitFor(`document.querySelectorAll('table.devices tbody tr').length === 20`, 20*time.Second),
		); err != nil {
			return err
		}
		id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('table.devices tbody tr').dataset.endpoint`))
		if err != nil {
			return err
		}
		if err := cuttleAPI.do("GET", "/api/v1/devices/"+url.PathEscape(id), nil, &device); err != nil {
			return err
		}
		sv := `.pvalue[data-param="Device.DeviceInfo.SoftwareVersion"]`
		if err := chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`table.devices tbody tr a`), chromedp.NodeVisible),
			chromedp.Click(chromedp.CSS(`#tab-explorer`), chromedp.NodeVisible),
			chromedp.Click(chromedp.CSS(`button.toggle[data-path="Device.DeviceInfo."]`), chromedp.NodeVisible),
			chromedp.WaitVisible(chromedp.CSS(sv)),
		); err != nil {
			return err
		}
		got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sv)))
		if err != nil {
			return err
		}
		if got != device.SoftwareVersion || got == "" {
			return fmt.Errorf("explorer shows SoftwareVersion %q, the inventory %q", got, device.SoftwareVersion)
		}
		// A Get with a search path, next to the tree.
		return chromedp.Do(ctx,
			chromedp.SendKeys(chromedp.CSS(`input[name="get-paths"]`), "Device.WiFi.SSID.*.SSID, Device.Nope."),
			chromedp.Click(chromedp.CSS(`form.quick-get button[type="submit"]`), chromedp.NodeVisible),
			b.waitFor(`document.querySelectorAll('table[aria-label="Get results"] tbody tr').length >= 2 && document.querySelector('form.quick-get .error')?.textContent.includes('Device.Nope.')`, 20*time.Second),
			chromedp.ScrollIntoView(chromedp.CSS(sv)),
		)
	})

	// 3. Set a writable parameter and see the new value (and first, the
	// device's refusal of a bad one next to the field).
	b.step("3-set-parameter", 60*time.Second, func(ctx context.Context) error {
		param := "Device.DeviceInfo.ProvisioningCode"
		value := "console-" + strings.ReplaceAll(time.Now().Format("150405.000"), ".", "")
		form := fmt.Sprintf(`form.set[data-param=%q]`, param)
		if err := chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`button[aria-label="Edit ProvisioningCode"]`), chromedp.NodeVisible),
			chromedp.SetValue(chromedp.CSS(form+` input`), strings.Repeat("x", 70)),
			chromedp.Click(chromedp.CSS(form+` button[type="submit"]`), chromedp.NodeVisible),
			b.waitFor(fmt.Sprintf(`document.querySelector('%s .field-error')?.textContent.includes('refused')`, form), 20*time.Second),
			chromedp.SetValue(chromedp.CSS(form+` input`), value),
			chromedp.Click(chromedp.CSS(form+` button[type="submit"]`), chromedp.NodeVisible),
			b.waitFor(fmt.Sprintf(`document.querySelector('.pvalue[data-param="%s"]')?.textContent === '%s'`, param, value), 20*time.Second),
		); err != nil {
			return err
		}
		var got struct{ Values map[string]string }
		if err := cuttleAPI.do("POST", "/api/v1/devices/"+url.PathEscape(device.EndpointID)+"/get", map[string]any{"paths": []string{param}}, &got); err != nil {
			return err
		}
		if got.Values[param] != value {
			return fmt.Errorf("the device has %s = %q, want %q", param, got.Values[param], value)
		}
		return nil
	})

	// 4. Run Device.Reboot() and see the device go offline and come back.
	b.step("4-reboot", 120*time.Second, func(ctx context.Context) error {
		return chromedp.Do(ctx,
			// Record every status the badge shows, so a short offline spell is not missed.
			chromedp.Evaluate[chromedp.Void](`window.statusSeen = [];
				new MutationObserver(() => window.statusSeen.push(document.getElementById('device-status').textContent))
					.observe(document.getElementById('device-status'), {childList: true, subtree: true, characterData: true}); 0`),
			chromedp.Click(chromedp.CSS(`button.toggle[data-path="Device.DeviceInfo."]`), chromedp.NodeVisible), // fold it
			chromedp.Click(chromedp.CSS(`form.command[data-command="Device.Reboot()"] button[type="submit"]`), chromedp.NodeVisible),
			b.waitFor(`window.statusSeen.includes('offline')`, 60*time.Second),
			b.waitFor(`document.getElementById('device-status').textContent === 'online'`, 60*time.Second),
			chromedp.Click(chromedp.CSS(`#tab-overview`), chromedp.NodeVisible),
			b.waitFor(`[...document.querySelectorAll('ol[aria-label="Online history"] .badge')].slice(0, 3).map(b => b.textContent).join() .includes('offline')`, 20*time.Second),
		)
	})

	// 5. Start a bulk job and see it complete.
	b.step("5-bulk-job", 120*time.Second, func(ctx context.Context) error {
		if err := chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`#nav a[href="#/devices"]`), chromedp.NodeVisible),
			b.waitFor(`document.querySelectorAll('table.devices tbody tr').length === 20`, 20*time.Second),
			chromedp.Click(chromedp.CSS(`table.devices thead input[type="checkbox"]`), chromedp.NodeVisible),
			chromedp.WaitVisible(chromedp.CSS(`#bulk-job`)),
		); err != nil {
			return err
		}
		b.screenshot("5a-devices-selected")
		if err := chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`#bulk-job`), chromedp.NodeVisible),
			chromedp.WaitVisible(chromedp.CSS(`#create-job`)),
			chromedp.SetValue(chromedp.CSS(`input[name="name"]`), "browser test: software versions"),
			b.waitFor(`document.querySelector('textarea[name="paths"]')?.value === 'Device.DeviceInfo.SoftwareVersion'`, 5*time.Second),
		); err != nil {
			return err
		}
		b.screenshot("5b-new-job")
		if err := chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`#create-job`), chromedp.NodeVisible),
			b.waitFor(`document.querySelector('#job-state .badge')?.textContent === 'completed'`, 90*time.Second),
			b.waitFor(`document.querySelectorAll('table[aria-label="Results"] tbody tr').length === 20`, 20*time.Second),
			chromedp.ScrollIntoView(chromedp.CSS(`#job-state`)),
		); err != nil {
			return err
		}
		b.screenshot("5-bulk-job-done")
		return chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`#nav a[href="#/jobs"]`), chromedp.NodeVisible),
			b.waitFor(`[...document.querySelectorAll('table[aria-label="Jobs"] tbody tr')].some(r => r.textContent.includes('browser test: software versions') && r.textContent.includes('completed') && r.textContent.includes('20/20'))`, 20*time.Second),
		)
	})

	// 6. Watch the traffic inspector show the decoded Get.
	b.step("6-traffic-get", 60*time.Second, func(ctx context.Context) error {
		if err := chromedp.Do(ctx,
			chromedp.Navigate(up.url+"/#/traffic?device="+url.QueryEscape(device.EndpointID)),
			b.waitFor(`document.querySelector('.live .badge')?.textContent === 'live'`, 20*time.Second),
		); err != nil {
			return err
		}
		path := "Device.DeviceInfo.UpTime"
		if err := cuttleAPI.do("POST", "/api/v1/devices/"+url.PathEscape(device.EndpointID)+"/get", map[string]any{"paths": []string{path}}, nil); err != nil {
			return err
		}
		return chromedp.Do(ctx,
			b.waitFor(`document.querySelector('tr.msgrow[data-type="GET"]') && document.querySelector('tr.msgrow[data-type="GET_RESP"]')`, 20*time.Second),
			// "Show only" narrows the list to the responses, then to everything again.
			chromedp.SendKeys(chromedp.CSS(`input[name="only"]`), "get_resp"),
			b.waitFor(`(rows => rows.length > 0 && rows.every(r => r.dataset.type === 'GET_RESP'))([...document.querySelectorAll('tr.msgrow')].filter(r => !r.hidden))`, 5*time.Second),
			chromedp.Evaluate[chromedp.Void](`(i => { i.value = ''; i.dispatchEvent(new Event('input')); })(document.querySelector('input[name="only"]')); 0`),
			// Only the messages that name the path; then, with the keyboard,
			// focus the first, arrow down to the GET, Enter.
			chromedp.SendKeys(chromedp.CSS(`input[name="only"]`), path),
			b.waitFor(`(rows => rows.length >= 2 && rows.every(r => r.dataset.search.includes('uptime')))([...document.querySelectorAll('tr.msgrow')].filter(r => !r.hidden))`, 5*time.Second),
			chromedp.Focus(chromedp.CSS(`tr.msgrow[tabindex="0"]`)),
			chromedp.Evaluate[chromedp.Void](`(() => {
				const rows = [...document.querySelectorAll('tr.msgrow')].filter(r => !r.hidden);
				const target = rows.findIndex(r => r.dataset.type === 'GET');
				const from = rows.indexOf(document.activeElement);
				window.arrowPresses = target - from;
			})(); 0`),
			chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
				n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.arrowPresses`))
				if err != nil || n < 0 {
					return fmt.Errorf("arrow presses %d: %v", n, err)
				}
				for range n {
					if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.ArrowDown)); err != nil {
						return err
					}
				}
				return chromedp.Do(ctx, chromedp.KeyEvent(kb.Enter))
			}),
			b.waitFor(`document.activeElement.dataset.type === 'GET' && document.activeElement.getAttribute('aria-current') === 'true'`, 5*time.Second),
			b.waitFor(fmt.Sprintf(`document.querySelector('pre.msg')?.textContent.includes('%s') && document.querySelector('pre.record')?.textContent.includes('to_id')`, path), 10*time.Second),
		)
	})

	// The dashboard after all that, live: the figures, and the events the
	// steps caused (this screenshot is docs/console.png).
	b.step("7-dashboard-live", 60*time.Second, func(ctx context.Context) error {
		return chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`#nav a[href="#/dashboard"]`), chromedp.NodeVisible),
			b.waitFor(`document.querySelector('[data-stat="Online"] .card-value')?.textContent === '20'`, 30*time.Second),
			b.waitFor(`document.querySelectorAll('ol[aria-label="Recent events"] li').length >= 2`, 20*time.Second),
			// The reboot's Boot! is a notification of the last minute.
			b.waitFor(`Number(document.querySelector('[data-stat="Notifications / min"] .card-value')?.textContent) >= 1`, 20*time.Second),
			chromedp.Evaluate[chromedp.Void](`document.getElementById('flash').replaceChildren(); 0`), // for the picture
		)
	})

	// An asynchronous command with input arguments, followed to its
	// OperationComplete (the simulated download takes its profile's 45 s).
	b.step("8-async-command", 150*time.Second, func(ctx context.Context) error {
		img := "Device.DeviceInfo.FirmwareImage.2."
		form := fmt.Sprintf(`form.command[data-command=%q]`, img+"Download()")
		return chromedp.Do(ctx,
			chromedp.Navigate(up.url+"/#/device/"+url.PathEscape(device.EndpointID)+"/explorer"),
			chromedp.Click(chromedp.CSS(`button.toggle[data-path="Device.DeviceInfo."]`), chromedp.NodeVisible),
			chromedp.Click(chromedp.CSS(`button.toggle[data-path="Device.DeviceInfo.FirmwareImage."]`), chromedp.NodeVisible),
			chromedp.Click(chromedp.CSS(fmt.Sprintf(`button.toggle[data-path=%q]`, img)), chromedp.NodeVisible),
			chromedp.WaitVisible(chromedp.CSS(form)),
			chromedp.SendKeys(chromedp.CSS(form+` input[name="URL"]`), "https://firmware.example/hg4000-4.3.0.bin"),
			chromedp.SendKeys(chromedp.CSS(form+` input[name="AutoActivate"]`), "false"),
			chromedp.Click(chromedp.CSS(form+` button[type="submit"]`), chromedp.NodeVisible),
			b.waitFor(fmt.Sprintf(`document.querySelector('%s .op-result')?.textContent.includes('waiting for the device')`, form), 20*time.Second),
			b.waitFor(fmt.Sprintf(`document.querySelector('%s .op-result')?.textContent.includes('Completed.')`, form), 120*time.Second),
		)
	})

	// Subscriptions: create one, see it listed, delete it.
	b.step("9-subscriptions", 60*time.Second, func(ctx context.Context) error {
		row := `[...document.querySelectorAll('table[aria-label="Subscriptions"] tbody tr')].find(r => r.textContent.includes('browser-sub'))`
		return chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`#tab-subscriptions`), chromedp.NodeVisible),
			chromedp.WaitVisible(chromedp.CSS(`table[aria-label="Subscriptions"]`)),
			chromedp.SetValue(chromedp.CSS(`input[name="ID"]`), "browser-sub"),
			chromedp.SendKeys(chromedp.CSS(`input[name="ReferenceList"]`), "Device.DeviceInfo.HostName"),
			chromedp.Click(chromedp.Search(`//button[text()="Create subscription"]`), chromedp.NodeVisible),
			b.waitFor(row, 20*time.Second),
			chromedp.Evaluate[chromedp.Void](row+`.querySelector('button.danger').click()`),
			chromedp.Click(chromedp.CSS(`dialog.confirm button[value="yes"]`), chromedp.NodeVisible),
			b.waitFor(`!(`+row+`)`, 20*time.Second),
		)
	})

	// Add an instance to a table in the explorer, then delete it.
	b.step("9b-add-delete-instance", 60*time.Second, func(ctx context.Context) error {
		table := "Device.LocalAgent.Controller.1.BootParameter."
		instances := fmt.Sprintf(`[...document.querySelectorAll('button.toggle')].filter(b => b.dataset.path.startsWith('%s') && b.dataset.path !== '%s')`, table, table)
		if err := chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`#tab-explorer`), chromedp.NodeVisible),
			chromedp.Click(chromedp.CSS(`button.toggle[data-path="Device.LocalAgent."]`), chromedp.NodeVisible),
			chromedp.Click(chromedp.CSS(`button.toggle[data-path="Device.LocalAgent.Controller."]`), chromedp.NodeVisible),
			chromedp.Click(chromedp.CSS(`button.toggle[data-path="Device.LocalAgent.Controller.1."]`), chromedp.NodeVisible),
			chromedp.Click(chromedp.CSS(fmt.Sprintf(`button.toggle[data-path=%q]`, table)), chromedp.NodeVisible),
			chromedp.Evaluate[chromedp.Void](`window.before = `+instances+`.length; 0`),
			chromedp.Click(chromedp.Search(fmt.Sprintf(`//button[text()="Add instance to %s"]`, table)), chromedp.NodeVisible),
			b.waitFor(instances+`.length === window.before + 1`, 20*time.Second),
		); err != nil {
			return err
		}
		b.screenshot("9b-instance-added")
		return chromedp.Do(ctx,
			chromedp.Evaluate[chromedp.Void](instances+`.at(-1).closest('.node-head').querySelector('button.danger').click(); 0`),
			chromedp.Click(chromedp.CSS(`dialog.confirm button[value="yes"]`), chromedp.NodeVisible),
			b.waitFor(instances+`.length === window.before`, 20*time.Second),
		)
	})

	// Label the device, then find it with a label selector.
	b.step("9c-labels", 60*time.Second, func(ctx context.Context) error {
		return chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`#tab-overview`), chromedp.NodeVisible),
			chromedp.SendKeys(chromedp.CSS(`input[name="key"]`), "site"),
			chromedp.SendKeys(chromedp.CSS(`input[name="value"]`), "north"),
			chromedp.Click(chromedp.Search(`//button[text()="Set label"]`), chromedp.NodeVisible),
			b.waitFor(`[...document.querySelectorAll('ul.labels .label')].some(l => l.textContent === 'site=north')`, 20*time.Second),
			chromedp.Navigate(up.url+"/#/devices"),
			chromedp.WaitVisible(chromedp.CSS(`input[name="labels"]`)),
			chromedp.SendKeys(chromedp.CSS(`input[name="labels"]`), "site=north"),
			chromedp.Click(chromedp.Search(`//button[text()="Apply"]`), chromedp.NodeVisible),
			b.waitFor(fmt.Sprintf(`(r => r.length === 1 && r[0].dataset.endpoint === %q)(document.querySelectorAll('table.devices tbody tr')) && document.querySelector('.pager span').textContent === '1 device'`, device.EndpointID), 20*time.Second),
		)
	})

	// A Set job over a selector (every device of the model).
	b.step("9d-set-job-selector", 90*time.Second, func(ctx context.Context) error {
		return chromedp.Do(ctx,
			chromedp.Navigate(up.url+"/#/jobs/new"),
			chromedp.WaitVisible(chromedp.CSS(`select[name="operation"]`)),
			chromedp.SetValue(chromedp.CSS(`select[name="operation"]`), "set"),
			chromedp.Evaluate[chromedp.Void](`document.querySelector('select[name="operation"]').dispatchEvent(new Event('change')); 0`),
			chromedp.SendKeys(chromedp.CSS(`input[name="object"]`), "Device.DeviceInfo."),
			chromedp.SendKeys(chromedp.CSS(`textarea[name="params"]`), "ProvisioningCode=fleet-1"),
			chromedp.SendKeys(chromedp.CSS(`input[name="model"]`), "CL-HG4000"),
			chromedp.Click(chromedp.CSS(`#create-job`), chromedp.NodeVisible),
			b.waitFor(`document.querySelector('#job-state .badge')?.textContent === 'completed'`, 60*time.Second),
			b.waitFor(`document.querySelectorAll('table[aria-label="Results"] tbody tr').length === 20`, 20*time.Second),
		)
	})

	// Cursor pagination forward and back, and the device's event timeline.
	b.step("9e-pages-and-events", 60*time.Second, func(ctx context.Context) error {
		first := `document.querySelector('table.devices tbody tr')?.dataset.endpoint`
		return chromedp.Do(ctx,
			// A bookmark without the hash lands on the same page.
			chromedp.Navigate(up.url+"/devices?status=online"),
			b.waitFor(`location.pathname === '/' && location.hash === '#/devices?status=online' && document.querySelectorAll('table.devices tbody tr').length === 20`, 20*time.Second),
			chromedp.Navigate(up.url+"/#/devices?limit=5"),
			b.waitFor(`document.querySelectorAll('table.devices tbody tr').length === 5 && document.querySelector('.pager span').textContent === '20 devices'`, 20*time.Second),
			chromedp.Evaluate[chromedp.Void](`window.page1 = `+first+`; 0`),
			chromedp.Click(chromedp.CSS(`.pager button:last-child`), chromedp.NodeVisible),
			b.waitFor(first+` && `+first+` !== window.page1 && document.querySelectorAll('table.devices tbody tr').length === 5`, 20*time.Second),
			chromedp.Evaluate[chromedp.Void](`window.page2 = `+first+`; 0`),
			chromedp.Click(chromedp.CSS(`.pager button:last-child`), chromedp.NodeVisible),
			b.waitFor(first+` && `+first+` !== window.page2 && `+first+` !== window.page1`, 20*time.Second),
			chromedp.Click(chromedp.CSS(`.pager button:first-of-type`), chromedp.NodeVisible),
			b.waitFor(first+` === window.page2`, 20*time.Second),
			chromedp.Click(chromedp.CSS(`.pager button:first-of-type`), chromedp.NodeVisible),
			b.waitFor(first+` === window.page1 && document.querySelector('.pager button').disabled`, 20*time.Second),
			chromedp.Navigate(up.url+"/#/device/"+url.PathEscape(device.EndpointID)+"/events"),
			b.waitFor(`[...document.querySelectorAll('ol[aria-label="Events"] .badge')].some(b => b.textContent === 'boot')`, 20*time.Second),
			chromedp.SetValue(chromedp.CSS(`select[name="type"]`), "offline"),
			chromedp.Evaluate[chromedp.Void](`document.querySelector('select[name="type"]').dispatchEvent(new Event('change')); 0`),
			b.waitFor(`(b => b.length > 0 && b.every(x => x.textContent === 'offline'))([...document.querySelectorAll('ol[aria-label="Events"] .badge')])`, 20*time.Second),
		)
	})

	// Cancel a running job: an operate job that waits for each device's
	// 45 s download, one device at a time.
	b.step("9f-cancel-job", 90*time.Second, func(ctx context.Context) error {
		return chromedp.Do(ctx,
			chromedp.Navigate(up.url+"/#/jobs/new"),
			chromedp.WaitVisible(chromedp.CSS(`select[name="operation"]`)),
			chromedp.SetValue(chromedp.CSS(`select[name="operation"]`), "operate"),
			chromedp.Evaluate[chromedp.Void](`document.querySelector('select[name="operation"]').dispatchEvent(new Event('change')); 0`),
			chromedp.SetValue(chromedp.CSS(`input[name="command"]`), "Device.DeviceInfo.FirmwareImage.2.Download()"),
			chromedp.SetValue(chromedp.CSS(`textarea[name="args"]`), "URL=https://firmware.example/hg4000-4.3.0.bin\nAutoActivate=false"),
			chromedp.SetValue(chromedp.CSS(`input[name="concurrency"]`), "1"),
			chromedp.SetValue(chromedp.CSS(`input[name="name"]`), "browser test: to cancel"),
			chromedp.Click(chromedp.CSS(`#create-job`), chromedp.NodeVisible),
			b.waitFor(`document.querySelector('#job-state .badge')?.textContent === 'running'`, 30*time.Second),
			chromedp.Click(chromedp.CSS(`#cancel-job`), chromedp.NodeVisible),
			chromedp.Click(chromedp.CSS(`dialog.confirm button[value="yes"]`), chromedp.NodeVisible),
			b.waitFor(`document.querySelector('#job-state .badge')?.textContent === 'canceled' && document.getElementById('cancel-job').hidden`, 60*time.Second),
		)
	})

	// More controls: open a deep path in the explorer and set a boolean
	// with its select; remove a label; pause and resume the traffic view.
	b.step("9g-more-controls", 90*time.Second, func(ctx context.Context) error {
		param := "Device.DeviceInfo.FirmwareImage.2.Available"
		form := fmt.Sprintf(`form.set[data-param=%q]`, param)
		value := fmt.Sprintf(`document.querySelector('.pvalue[data-param="%s"]')?.textContent`, param)
		if err := chromedp.Do(ctx,
			chromedp.Navigate(up.url+"/#/device/"+url.PathEscape(device.EndpointID)+"/explorer"),
			chromedp.WaitVisible(chromedp.CSS(`input[name="path"]`)),
			chromedp.SetValue(chromedp.CSS(`input[name="path"]`), "Device.DeviceInfo.FirmwareImage.2."),
			chromedp.Click(chromedp.Search(`//button[text()="Open"]`), chromedp.NodeVisible),
			chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`.pvalue[data-param=%q]`, param))),
		); err != nil {
			return err
		}
		before, err := chromedp.Run(ctx, chromedp.Evaluate[string](value))
		if err != nil {
			return err
		}
		want := map[string]string{"true": "false", "1": "false", "false": "true", "0": "true"}[before]
		if want == "" {
			return fmt.Errorf("%s is %q", param, before)
		}
		if err := chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`button[aria-label="Edit Available"]`), chromedp.NodeVisible),
			chromedp.SetValue(chromedp.CSS(form+` select`), want),
			chromedp.Click(chromedp.CSS(form+` button[type="submit"]`), chromedp.NodeVisible),
			b.waitFor(value+` === '`+want+`'`, 20*time.Second),
			// Labels: remove the one step 9c set.
			chromedp.Click(chromedp.CSS(`#tab-overview`), chromedp.NodeVisible),
			chromedp.Click(chromedp.CSS(`button[aria-label="Remove label site"]`), chromedp.NodeVisible),
			b.waitFor(`!document.querySelector('ul.labels') && document.querySelector('input[name="key"]')`, 20*time.Second),
			// Traffic: nothing new shows while paused; Resume shows what came.
			chromedp.Navigate(up.url+"/#/traffic?device="+url.QueryEscape(device.EndpointID)),
			b.waitFor(`document.querySelector('.live .badge')?.textContent === 'live'`, 20*time.Second),
			chromedp.Click(chromedp.Search(`//button[text()="Pause"]`), chromedp.NodeVisible),
			chromedp.Evaluate[chromedp.Void](`window.rowsPaused = document.querySelectorAll('tr.msgrow').length; 0`),
		); err != nil {
			return err
		}
		if err := cuttleAPI.do("POST", "/api/v1/devices/"+url.PathEscape(device.EndpointID)+"/get", map[string]any{"paths": []string{"Device.DeviceInfo.UpTime"}}, nil); err != nil {
			return err
		}
		return chromedp.Do(ctx,
			chromedp.Sleep(time.Second), // nothing to wait for: the test is that nothing happens
			b.waitFor(`document.querySelectorAll('tr.msgrow').length === window.rowsPaused`, time.Second),
			chromedp.Click(chromedp.Search(`//button[text()="Resume"]`), chromedp.NodeVisible),
			b.waitFor(`document.querySelectorAll('tr.msgrow').length >= window.rowsPaused + 2`, 10*time.Second),
		)
	})

	// Admins make and revoke tokens, and make device credentials.
	b.step("10-admin-pages", 60*time.Second, func(ctx context.Context) error {
		return chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`#nav a[href="#/credentials"]`), chromedp.NodeVisible),
			chromedp.WaitVisible(chromedp.CSS(`table[aria-label="Credentials"]`)),
			chromedp.SendKeys(chromedp.CSS(`input[name="endpoint_id"]`), "os::012345-BROWSER1"),
			chromedp.Click(chromedp.Search(`//button[text()="Create credential"]`), chromedp.NodeVisible),
			b.waitFor(`document.querySelector('.secret input')?.value.length > 10 && document.querySelector('table[aria-label="Credentials"]').textContent.includes('os::012345-BROWSER1')`, 20*time.Second),
			// Disable, enable and delete it.
			b.credentialAction("Disable"), b.waitFor(credentialRow+`?.textContent.includes('disabled')`, 20*time.Second),
			b.credentialAction("Enable"), b.waitFor(credentialRow+`?.textContent.includes('enabled')`, 20*time.Second),
			b.credentialAction("Delete"), b.waitFor(`!`+credentialRow, 20*time.Second),
			chromedp.Click(chromedp.CSS(`#nav a[href="#/tokens"]`), chromedp.NodeVisible),
			chromedp.WaitVisible(chromedp.CSS(`table[aria-label="Tokens"]`)),
			chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), "browser-temp"),
			chromedp.Click(chromedp.Search(`//button[text()="Create token"]`), chromedp.NodeVisible),
			b.waitFor(`document.querySelector('.secret input')?.value.startsWith('cut_')`, 20*time.Second),
			// The secret shows before the list is read again; wait for the row.
			b.waitFor(`[...document.querySelectorAll('table[aria-label="Tokens"] tbody tr')].some(r => r.textContent.includes('browser-temp'))`, 20*time.Second),
			chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('table[aria-label="Tokens"] tbody tr')].find(r => r.textContent.includes('browser-temp')).querySelector('button.danger').click()`),
			chromedp.Click(chromedp.CSS(`dialog.confirm button[value="yes"]`), chromedp.NodeVisible),
			b.waitFor(`[...document.querySelectorAll('table[aria-label="Tokens"] tbody tr')].find(r => r.textContent.includes('browser-temp'))?.textContent.includes('revoked')`, 20*time.Second),
		)
	})

	// Rotate a credential's secret: the new one is shown once, and in NATS
	// KV, where the brokers read credentials, only the new one verifies.
	b.step("10b-rotate-secret", 60*time.Second, func(ctx context.Context) error {
		secret := `document.querySelector('.secret input')?.value`
		if err := chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`#nav a[href="#/credentials"]`), chromedp.NodeVisible),
			chromedp.WaitVisible(chromedp.CSS(`table[aria-label="Credentials"]`)),
			chromedp.SendKeys(chromedp.CSS(`input[name="endpoint_id"]`), rotatedEID),
			chromedp.Click(chromedp.Search(`//button[text()="Create credential"]`), chromedp.NodeVisible),
			b.waitFor(secret+`?.length > 10 && `+rowOf("Credentials", rotatedEID), 20*time.Second),
		); err != nil {
			return err
		}
		old, err := chromedp.Run(ctx, chromedp.Evaluate[string](secret))
		if err != nil {
			return err
		}
		if err := chromedp.Do(ctx,
			b.pressInRow(rowOf("Credentials", rotatedEID), "Rotate secret"),
			b.waitFor(`(t => t.includes('old secret stops working') && t.includes('must be given the new one'))(document.querySelector('dialog.confirm[open]')?.textContent ?? '')`, 5*time.Second),
		); err != nil {
			return err
		}
		b.screenshot("10b-rotate-confirm")
		if err := chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`dialog.confirm button[value="yes"]`), chromedp.NodeVisible),
			// Shown once like a new secret, with the focus on it.
			b.waitFor(fmt.Sprintf(`%s?.length > 10 && %s !== %q && document.activeElement === document.querySelector('.secret input')
				&& document.querySelector('.secret').textContent.includes('The new secret of %s is shown only now')
				&& document.querySelector('.secret button')?.textContent === 'Copy'`, secret, secret, old, rotatedEID), 20*time.Second),
		); err != nil {
			return err
		}
		shown, err := chromedp.Run(ctx, chromedp.Evaluate[string](secret))
		if err != nil {
			return err
		}
		c, err := up.credential(ctx, rotatedEID)
		if err != nil {
			return err
		}
		if c.Verify(old) || !c.Verify(shown) {
			return fmt.Errorf("after the rotation, the old secret verifies: %v, the shown one: %v (want false, true)", c.Verify(old), c.Verify(shown))
		}
		return nil
	})

	// Revoke a client certificate, then accept it again; a spec that is
	// neither a serial nor a fingerprint is refused in the form.
	b.step("10c-accept-certificate-again", 60*time.Second, func(ctx context.Context) error {
		const spec = "serial:0a1b2c"
		row := rowOf("Revoked certificates", spec)
		revoked := func() (bool, error) {
			var list struct{ Revoked []struct{ Spec string } }
			if err := cuttleAPI.do("GET", "/api/v1/credentials/revoked", nil, &list); err != nil {
				return false, err
			}
			for _, r := range list.Revoked {
				if r.Spec == spec {
					return true, nil
				}
			}
			return false, nil
		}
		if err := chromedp.Do(ctx,
			chromedp.SetValue(chromedp.CSS(`input[name="spec"]`), "md5:00"),
			chromedp.Click(chromedp.Search(`//button[text()="Revoke certificate"]`), chromedp.NodeVisible),
			chromedp.Click(chromedp.CSS(`dialog.confirm button[value="yes"]`), chromedp.NodeVisible),
			b.waitFor(`document.querySelector('input[name="spec"]').form.querySelector('.error')?.textContent.includes('spec')`, 20*time.Second),
			// As tools print a serial; the list shows it normalised.
			chromedp.SetValue(chromedp.CSS(`input[name="spec"]`), "serial:0A:1B:2C"),
			chromedp.SendKeys(chromedp.CSS(`input[name="reason"]`), "browser test: lost"),
			chromedp.Click(chromedp.Search(`//button[text()="Revoke certificate"]`), chromedp.NodeVisible),
			chromedp.Click(chromedp.CSS(`dialog.confirm button[value="yes"]`), chromedp.NodeVisible),
			b.waitFor(row+`?.textContent.includes('browser test: lost')`, 20*time.Second),
			chromedp.ScrollIntoView(chromedp.CSS(`table[aria-label="Revoked certificates"]`)),
		); err != nil {
			return err
		}
		if ok, err := revoked(); err != nil || !ok {
			return fmt.Errorf("the API lists %s as revoked: %v, %v", spec, ok, err)
		}
		b.screenshot("10c-certificate-revoked")
		if err := chromedp.Do(ctx,
			b.pressInRow(row, "Accept again"),
			b.waitFor(`document.querySelector('dialog.confirm[open]')?.textContent.includes('Accept `+spec+` again?')`, 5*time.Second),
			chromedp.Click(chromedp.CSS(`dialog.confirm button[value="yes"]`), chromedp.NodeVisible),
			b.waitFor(`!`+row, 20*time.Second),
		); err != nil {
			return err
		}
		if ok, err := revoked(); err != nil || ok {
			return fmt.Errorf("after Accept again, the API lists %s as revoked: %v, %v", spec, ok, err)
		}
		return nil
	})

	// At a phone's width nothing makes the page scroll sideways (tables
	// scroll inside their own box).
	b.step("11-phone-width", 60*time.Second, func(ctx context.Context) error {
		fits := `document.documentElement.scrollWidth <= window.innerWidth + 1`
		if err := chromedp.Do(ctx,
			chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
			b.waitFor(fits, 5*time.Second),
			chromedp.Navigate(up.url+"/#/devices"),
			b.waitFor(`document.querySelectorAll('table.devices tbody tr').length === 20`, 20*time.Second),
			b.waitFor(fits, 5*time.Second),
		); err != nil {
			return err
		}
		b.screenshot("11a-phone-devices")
		// The credentials page, with its row actions and a secret shown.
		return chromedp.Do(ctx,
			chromedp.Navigate(up.url+"/#/credentials"),
			b.pressInRow(rowOf("Credentials", rotatedEID), "Rotate secret"),
			chromedp.Click(chromedp.CSS(`dialog.confirm button[value="yes"]`), chromedp.NodeVisible),
			b.waitFor(`document.activeElement === document.querySelector('.secret input')`, 20*time.Second),
			b.waitFor(fits, 5*time.Second),
		)
	})

	// Text contrast meets WCAG AA on the main pages, in the light and the
	// dark colour scheme.
	b.step("11b-contrast", 90*time.Second, func(ctx context.Context) error {
		pages := []string{"#/dashboard", "#/devices", "#/device/" + url.PathEscape(device.EndpointID) + "/overview",
			"#/device/" + url.PathEscape(device.EndpointID) + "/explorer", "#/jobs", "#/credentials", "#/tokens", "#/traffic"}
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(1366, 760)); err != nil {
			return err
		}
		// The check itself finds grey on white.
		bad, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(() => {
			const p = document.createElement('p');
			p.textContent = 'faint words';
			p.style.color = '#999'; p.style.background = '#fff';
			document.querySelector('main').append(p);
			return `+contrastJS+`;
		})()`))
		if err != nil || len(bad) != 1 || !strings.HasPrefix(bad[0], "faint words (2.85:1") {
			return fmt.Errorf("the contrast check does not work: %q, %v", bad, err)
		}
		for _, scheme := range []string{"light", "dark"} {
			if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
				_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
					Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
				return err
			})); err != nil {
				return err
			}
			for _, p := range pages {
				if err := chromedp.Do(ctx,
					chromedp.Navigate(up.url+"/"+p),
					b.waitFor(`document.querySelector('main h1, main h2') && !document.querySelector('[aria-busy="true"]')`, 20*time.Second),
				); err != nil {
					return err
				}
				bad, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](contrastJS))
				if err != nil {
					return err
				}
				if len(bad) > 0 {
					return fmt.Errorf("%s scheme, %s: low contrast: %s", scheme, p, strings.Join(bad, "; "))
				}
			}
			b.screenshot("11b-contrast-" + scheme)
		}
		return nil
	})

	// A viewer sees no control that changes anything.
	b.step("12-viewer-read-only", 90*time.Second, func(ctx context.Context) error {
		var created struct{ Secret string }
		if err := cuttleAPI.do("POST", "/api/v1/tokens", map[string]any{"name": "browser-viewer", "role": "viewer"}, &created); err != nil {
			return err
		}
		return chromedp.Do(ctx,
			chromedp.EmulateViewport(1366, 760),
			chromedp.Click(chromedp.CSS(`.who button`), chromedp.NodeVisible), // sign out
			chromedp.WaitVisible(chromedp.CSS(`input[name="token"]`)),
			chromedp.SendKeys(chromedp.CSS(`input[name="token"]`), created.Secret),
			chromedp.Click(chromedp.CSS(`form.signin button[type="submit"]`), chromedp.NodeVisible),
			b.waitFor(`document.querySelector('.who strong')?.textContent === 'viewer'`, 20*time.Second),
			b.waitFor(`!document.querySelector('#nav a[href="#/tokens"]') && !document.querySelector('#nav a[href="#/credentials"]')`, 5*time.Second),
			chromedp.Navigate(up.url+"/#/devices"),
			b.waitFor(`document.querySelectorAll('table.devices tbody tr').length === 20`, 20*time.Second),
			chromedp.Click(chromedp.CSS(`table.devices thead input[type="checkbox"]`), chromedp.NodeVisible),
			b.waitFor(`document.querySelector('.bulkbar').textContent.includes('20 selected') && !document.querySelector('#bulk-job')`, 5*time.Second),
			chromedp.Navigate(up.url+"/#/device/"+url.PathEscape(device.EndpointID)+"/explorer"),
			chromedp.Click(chromedp.CSS(`button.toggle[data-path="Device.DeviceInfo."]`), chromedp.NodeVisible),
			chromedp.WaitVisible(chromedp.CSS(`.pvalue[data-param="Device.DeviceInfo.ProvisioningCode"]`)),
			b.waitFor(`!document.querySelector('button[aria-label^="Edit "]') && document.querySelector('form.command[data-command="Device.Reboot()"] button[type="submit"]').disabled`, 5*time.Second),
			chromedp.Click(chromedp.CSS(`#tab-overview`), chromedp.NodeVisible),
			chromedp.WaitVisible(chromedp.CSS(`ol[aria-label="Online history"]`)),
			b.waitFor(`!document.querySelector('input[name="key"]')`, 5*time.Second),
		)
	})

	if errs := consoleErrs.errors(); len(errs) > 0 {
		t.Errorf("the page reported errors:\n%s", strings.Join(errs, "\n"))
	}
}

// credentialRow is the credentials table's row of the test's credential.
var credentialRow = rowOf("Credentials", "os::012345-BROWSER1")

// rotatedEID is the credential whose secret the test rotates.
const rotatedEID = "os::012345-BROWSER2"

// rowOf is a JavaScript expression for the row of the table labelled
// table that contains text.
func rowOf(table, text string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('table[aria-label=%q] tbody tr')].find(r => r.textContent.includes(%q))`, table, text)
}

// credentialAction presses a button of the test credential's row and
// confirms.
func (b *driver) credentialAction(button string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		b.pressInRow(credentialRow, button),
		chromedp.Click(chromedp.CSS(`dialog.confirm button[value="yes"]`), chromedp.NodeVisible),
	)
}

// pressInRow presses the button labelled button in row, once it is there
// (a refresh of the list could land in between).
func (b *driver) pressInRow(row, button string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		b.waitFor(fmt.Sprintf(`[...(%s?.querySelectorAll('button') ?? [])].some(b => b.textContent === %q)`, row, button), 20*time.Second),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`[...%s.querySelectorAll('button')].find(b => b.textContent === %q).click(); 0`, row, button)),
	)
}
