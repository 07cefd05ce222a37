package agent

import (
	"sync"
	"testing"
	"time"

	"cuttle/usp"
	"cuttle/usp/usperr"
)

// allowed lists the codes TR-369 allows per message (its "Supported Error
// Codes" sections), plus 7025 for Set and Add, which the error code table
// assigns to both although their lists leave it out.
var allowed = map[string]func(usperr.Code) bool{
	"Get":            inCodes(span(7000, 7006), 7008, 7010, 7016, 7026),
	"GetInstances":   inCodes(span(7000, 7006), 7008, 7016, 7018, 7026),
	"GetSupportedDM": inCodes(span(7000, 7006), 7008, 7016, 7026),
	"Set":            inCodes(span(7000, 7016), 7020, 7021, 7025, 7026),
	"Add":            inCodes(span(7000, 7019), 7025, 7026),
	"Delete":         inCodes(span(7000, 7008), 7015, 7016, 7018, 7024, 7026),
	"Operate":        inCodes(span(7000, 7008), 7016, 7022, 7026, 7027),
}

func span(lo, hi usperr.Code) []usperr.Code {
	var out []usperr.Code
	for c := lo; c <= hi; c++ {
		out = append(out, c)
	}
	return out
}

func inCodes(parts ...any) func(usperr.Code) bool {
	set := map[usperr.Code]bool{}
	for _, p := range parts {
		switch v := p.(type) {
		case []usperr.Code:
			for _, c := range v {
				set[c] = true
			}
		case int:
			set[usperr.Code(v)] = true
		}
	}
	return func(c usperr.Code) bool { return set[c] }
}

// codes collects every error code in a reply.
func codes(reply usp.Body) []usperr.Code {
	var out []usperr.Code
	add := func(e *usperr.Error) {
		if e != nil {
			out = append(out, e.Code)
			for _, p := range e.Params {
				out = append(out, p.Code)
			}
		}
	}
	switch r := reply.(type) {
	case *usp.ErrorMsg:
		add(r.Err)
	case *usp.GetResp:
		for _, x := range r.Results {
			add(x.Err)
		}
	case *usp.GetInstancesResp:
		for _, x := range r.Results {
			add(x.Err)
		}
	case *usp.GetSupportedDMResp:
		for _, x := range r.Results {
			add(x.Err)
		}
	case *usp.SetResp:
		for _, x := range r.Results {
			add(x.Err)
			for _, f := range x.Failed {
				for _, p := range f.Params {
					add(p)
				}
			}
			for _, u := range x.Updated {
				for _, p := range u.ParamErrs {
					add(p)
				}
			}
		}
	case *usp.AddResp:
		for _, x := range r.Results {
			add(x.Err)
			for _, p := range x.ParamErrs {
				add(p)
			}
		}
	case *usp.DeleteResp:
		for _, x := range r.Results {
			add(x.Err)
			for _, p := range x.Unaffected {
				add(p)
			}
		}
	case *usp.OperateResp:
		for _, x := range r.Results {
			add(x.Err)
		}
	}
	return out
}

// FuzzHandle sends every kind of request with an arbitrary path and value:
// the agent must not panic, and every code it answers with must be one
// TR-369 allows for that message.
func FuzzHandle(f *testing.F) {
	for _, s := range []string{
		"Device.", "Device.WiFi.SSID.*.SSID", `Device.IP.Interface.[Name=="eth0"].`, "Device.WiFi.SSID.1.",
		"Device.LocalAgent.Subscription.", "Device.Reboot()", "Device.DeviceInfo.FirmwareImage.2.Download()",
		"Device.WiFi.AccessPoint.[SSIDReference+.SSID==\"x\"].", "Device.Boot!", "Device.WiFi.SSID.{i}.", "",
		"Device.LocalAgent.Controller.*.BootParameter.", "Device.WiFi.SSID.[Stats.BytesSent>0].Enable",
	} {
		f.Add(s, "Enable", "true")
	}
	f.Fuzz(func(t *testing.T, p, param, value string) {
		h := newHarness(t)
		params := []usp.Param{{Name: param, Value: value, Required: len(value)%2 == 0}}
		for msg, body := range map[string]usp.Body{
			"Get":            usp.NewGet(uint32(len(value)%3), p),
			"GetInstances":   usp.NewGetInstances(len(value)%2 == 0, p),
			"GetSupportedDM": &usp.GetSupportedDM{Paths: []string{p}, ReturnParams: true, ReturnCommands: true},
			"Set":            usp.NewSet(len(value)%2 == 0, usp.SetObject{Path: p, Params: params}),
			"Add":            usp.NewAdd(len(value)%2 == 0, usp.AddObject{Path: p, Params: params}),
			"Delete":         usp.NewDelete(len(value)%2 == 0, p),
			"Operate":        usp.NewOperate(p, value, true, map[string]string{param: value}),
		} {
			for _, c := range codes(h.do(ctrlA, body)) {
				if !allowed[msg](c) {
					t.Fatalf("%s %q: code %v is not allowed for %s", msg, p, c, msg)
				}
			}
		}
		h.tick(time.Minute)
	})
}

// TestConcurrentUse runs requests, ticks and reboots from several
// goroutines, for the race detector.
func TestConcurrentUse(t *testing.T) {
	h := newHarness(t)
	h.subscribe(ctrlA, "vc", "ValueChange", "Device.WiFi.SSID.", opt("NotifRetry", "true"))
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				switch i % 5 {
				case 0:
					h.a.Tick(h.clock.advance(time.Second))
				case 1:
					h.do(ctrlA, usp.NewGet(0, "Device.WiFi."))
				case 2:
					h.do(ctrlB, usp.NewSet(true, setObj("Device.WiFi.SSID.2.", opt("Enable", "true"))))
				case 3:
					h.do(ctrlA, usp.NewAdd(true, addObj("Device.LocalAgent.Controller.1.BootParameter.")))
				case 4:
					h.a.Rebooting()
					h.a.PendingNotifies()
				}
			}
		}()
	}
	wg.Wait()
	h.a.Rebooted()
}
