package agent

import (
	"net/url"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"cuttle/usp"
	"cuttle/usp/usperr"
)

// opKind says which asynchronous command an op runs.
type opKind uint8

const (
	opDownload opKind = iota + 1
	opActivate
)

// op is a running asynchronous command.
type op struct {
	kind  opKind
	req   *node // its Device.LocalAgent.Request.{i}
	image *node // the FirmwareImage it works on
	key   string
	from  string
	url   string
	auto  bool
	// prevStatus is the image's Status before a download, restored when it
	// is cancelled.
	prevStatus   string
	started, due time.Time
}

func (o *op) command() string {
	if o.kind == opDownload {
		return "Download()"
	}
	return "Activate()"
}

// startDownload starts FirmwareImage.{i}.Download(). It takes the
// profile's DownloadSeconds of simulated time. A URL containing "fail"
// simulates a failed transfer, so Controllers' error paths can be tested.
func (a *Agent) startDownload(from string, img *node, req *usp.Operate) (string, *usperr.Error) {
	u, err := url.Parse(req.Args["URL"])
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", usperr.New(usperr.InvalidCommandArguments, "URL %q is not an http or https URL", req.Args["URL"])
	}
	auto, err := usp.ParseBool(req.Args["AutoActivate"])
	if err != nil {
		return "", usperr.New(usperr.InvalidCommandArguments, "AutoActivate: %v", err)
	}
	if img.get("Status") == "Active" {
		return "", usperr.New(usperr.CommandFailure, "%s holds the running firmware; download into another image", img.ref())
	}
	for _, o := range a.ops {
		if o.image == img {
			return "", usperr.New(usperr.ResourcesExceeded, "%s is busy with another %s", img.ref(), o.command())
		}
	}
	o := &op{kind: opDownload, image: img, key: req.CommandKey, from: from, url: u.String(), auto: auto,
		prevStatus: img.get("Status"), started: a.now, due: a.now.Add(time.Duration(a.prof.DownloadSeconds) * time.Second)}
	o.req = a.startRequest(from, img, "Download()", req.CommandKey)
	a.setName(img, "Status", "Downloading")
	a.ops = append(a.ops, o)
	return o.req.path(), nil
}

var activateModes = []string{"AnyTime", "Immediately", "WhenIdle", "ConfirmationNeeded"}

// startActivate starts FirmwareImage.{i}.Activate(): at the earliest time
// window's Start (immediately without time windows) the device reboots into
// the image; the OperationComplete follows the reboot.
func (a *Agent) startActivate(from string, img *node, req *usp.Operate) (string, *usperr.Error) {
	delay, uerr := timeWindowDelay(req.Args)
	if uerr != nil {
		return "", uerr
	}
	if img.get("Available") != "true" || (img.get("Status") != "Available" && img.get("Status") != "Active") {
		return "", usperr.New(usperr.CommandFailure, "%s holds no image that can be activated (Status %s)", img.ref(), img.get("Status"))
	}
	for _, o := range a.ops {
		if o.image == img {
			return "", usperr.New(usperr.ResourcesExceeded, "%s is busy with another %s", img.ref(), o.command())
		}
	}
	o := &op{kind: opActivate, image: img, key: req.CommandKey, from: from, started: a.now, due: a.now.Add(delay)}
	o.req = a.startRequest(from, img, "Activate()", req.CommandKey)
	a.ops = append(a.ops, o)
	return o.req.path(), nil
}

// timeWindowDelay reads Activate()'s TimeWindow.{i}. arguments. Each window
// given needs Start, End and Mode (7027 otherwise); the activation happens
// at the earliest Start.
func timeWindowDelay(args map[string]string) (time.Duration, *usperr.Error) {
	windows := map[int]map[string]string{}
	for k, v := range args {
		rest, ok := strings.CutPrefix(k, "TimeWindow.")
		if !ok {
			continue
		}
		num, field, ok := strings.Cut(rest, ".")
		i, err := strconv.Atoi(num)
		if !ok || err != nil || i < 1 || i > 5 {
			return 0, usperr.New(usperr.InvalidCommandArguments, "%s is not a TimeWindow.{1-5}.<arg> argument", k)
		}
		if windows[i] == nil {
			windows[i] = map[string]string{}
		}
		windows[i][field] = v
	}
	var nums []int
	for i := range windows {
		nums = append(nums, i)
	}
	sort.Ints(nums)
	delay := time.Duration(-1)
	for _, i := range nums {
		w := windows[i]
		for _, f := range []string{"Start", "End", "Mode"} {
			if _, ok := w[f]; !ok {
				return 0, usperr.New(usperr.InvalidCommandArguments, "TimeWindow.%d.%s is mandatory", i, f)
			}
		}
		start, err1 := strconv.ParseUint(w["Start"], 10, 32)
		end, err2 := strconv.ParseUint(w["End"], 10, 32)
		if err1 != nil || err2 != nil || end < start {
			return 0, usperr.New(usperr.InvalidCommandArguments, "TimeWindow.%d: Start and End must be seconds with Start ≤ End", i)
		}
		if !slices.Contains(activateModes, w["Mode"]) {
			return 0, usperr.New(usperr.InvalidCommandArguments, "TimeWindow.%d.Mode %q is not one of %v", i, w["Mode"], activateModes)
		}
		if d := time.Duration(start) * time.Second; delay < 0 || d < delay {
			delay = d
		}
	}
	return max(delay, 0), nil
}

// cancel runs Request.{i}.Cancel(): the operation ends with a 7023
// OperationComplete and its Request row goes.
func (a *Agent) cancel(req *node) *usperr.Error {
	i := slices.IndexFunc(a.ops, func(o *op) bool { return o.req == req })
	if i < 0 {
		return usperr.New(usperr.CommandFailure, "%s has nothing left to cancel", req.ref())
	}
	o := a.ops[i]
	a.ops = slices.Delete(a.ops, i, i+1)
	if o.kind == opDownload {
		a.setName(o.image, "Status", o.prevStatus)
	}
	a.setName(req, "Status", "Canceled")
	a.notifyOperation(o.image, o.command(), o.key, nil, usperr.New(usperr.CommandCanceled, "canceled by Cancel()"))
	a.deleteRow(req, true)
	return nil
}

// runOps finishes the operations that are due.
func (a *Agent) runOps(now time.Time) {
	var due []*op
	a.ops = slices.DeleteFunc(a.ops, func(o *op) bool {
		if now.Before(o.due) {
			return false
		}
		due = append(due, o)
		return true
	})
	for _, o := range due {
		switch o.kind {
		case opDownload:
			a.finishDownload(o, now)
		case opActivate:
			a.debug("activating firmware", "image", o.image.ref(), "version", o.image.get("Version"))
			a.reboot.pending = true
			a.reboot.cause = usp.CauseRemoteReboot
			a.reboot.key, a.reboot.reason = o.key, "firmware activation"
			a.reboot.image, a.reboot.activated = o.image, true
			a.deleteRow(o.req, true)
		}
	}
}

var versionRE = regexp.MustCompile(`[0-9]+(\.[0-9]+)+`)

// finishDownload ends a Download(): OperationComplete, TransferComplete!,
// and with AutoActivate a reboot into the new image.
func (a *Agent) finishDownload(o *op, now time.Time) {
	img := o.image
	file := path.Base(o.url)
	var fault *usperr.Error
	if strings.Contains(o.url, "fail") {
		fault = usperr.New(usperr.CommandFailure, "transfer failed: the server answered 404 Not Found")
		a.setName(img, "Status", "DownloadFailed")
		a.notifyOperation(img, "Download()", o.key, nil, fault)
	} else {
		version := file
		if vs := versionRE.FindAllString(file, -1); len(vs) > 0 {
			version = vs[len(vs)-1]
		}
		a.setName(img, "Name", truncate(file, 64))
		a.setName(img, "Version", truncate(version, 64))
		a.setName(img, "Available", "true")
		a.setName(img, "Status", "Available")
		a.notifyOperation(img, "Download()", o.key, map[string]string{}, nil)
	}
	a.transferComplete(o, now, fault)
	a.debug("download finished", "image", img.ref(), "url", o.url, "ok", fault == nil)
	a.setName(o.req, "Status", pick(fault == nil, "Success", "Error"))
	a.deleteRow(o.req, true)
	if fault == nil && o.auto {
		a.reboot.pending = true
		a.reboot.cause = usp.CauseRemoteReboot
		a.reboot.key, a.reboot.reason = o.key, "firmware download with AutoActivate"
		a.reboot.image = img
	}
}

// transferComplete sends Device.LocalAgent.TransferComplete! for a download.
func (a *Agent) transferComplete(o *op, now time.Time, fault *usperr.Error) {
	code, msg := "0", ""
	if fault != nil {
		code, msg = strconv.Itoa(int(fault.Code)), fault.Msg
	}
	la := a.root.child("LocalAgent")
	a.notifyEvent(la, "TransferComplete!", nil, func(*node) map[string]string {
		return map[string]string{
			"Command": o.image.path() + "Download()", "CommandKey": o.key, "Requestor": o.from,
			"TransferType": "Download", "Affected": o.image.ref(), "TransferURL": o.url,
			"StartTime": o.started.UTC().Format(time.RFC3339), "CompleteTime": now.UTC().Format(time.RFC3339),
			"FaultCode": code, "FaultString": msg,
		}
	})
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
