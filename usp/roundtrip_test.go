package usp

import (
	"errors"
	"reflect"
	"testing"

	"cuttle/proto/uspmsg"
	"cuttle/usp/usperr"
)

// sampleBodies holds one or more filled-in values of every message type. The
// values are in the form decoding produces (nil for empty maps and slices,
// errors' Path set to their path), so a round trip must reproduce them.
func sampleBodies() map[string]Body {
	return map[string]Body{
		"get":            NewGet(2, "Device.DeviceInfo.", "Device.WiFi.SSID.*.SSID"),
		"get-unlimited":  NewGet(0, "Device."),
		"get-supp-dm":    &GetSupportedDM{Paths: []string{"Device.WiFi."}, FirstLevelOnly: true, ReturnCommands: true, ReturnEvents: true, ReturnParams: true, ReturnUniqueKeySets: true},
		"get-supp-dm-no": &GetSupportedDM{Paths: []string{"Device."}},
		"get-instances":  NewGetInstances(true, "Device.IP.Interface."),
		"set": NewSet(false,
			SetObject{Path: "Device.WiFi.SSID.1.", Params: []Param{{Name: "SSID", Value: "home", Required: true}, {Name: "Enable", Value: "true"}}},
			SetObject{Path: "Device.IP.Interface.[Name==\"eth0\"].", Params: []Param{{Name: "Enable", Value: "false"}}}),
		"add": NewAdd(true, AddObject{Path: "Device.LocalAgent.Subscription.", Params: []Param{
			{Name: "ID", Value: "boot", Required: true}, {Name: "NotifType", Value: "Event"}, {Name: "ReferenceList", Value: "Device.Boot!"}}}),
		"delete":   NewDelete(false, "Device.LocalAgent.Subscription.3.", "Device.Hosts.Host.*."),
		"operate":  NewOperate("Device.DeviceInfo.FirmwareImage.2.Download()", "fw-42", true, map[string]string{"URL": "https://fw.example/img", "AutoActivate": "true"}),
		"operate0": NewOperate("Device.Reboot()", "", false, nil),
		"notify-event": NewNotify("boot-1", true, Boot{Cause: CauseRemoteReboot, CommandKey: "k1", FirmwareUpdated: true,
			ParameterMap: map[string]string{"Device.DeviceInfo.SoftwareVersion": "1.2"}}.Event()),
		"notify-vc":       NewNotify("vc", false, &ValueChange{Path: "Device.DeviceInfo.UpTime", Value: "42"}),
		"notify-create":   NewNotify("oc", true, &ObjectCreation{Path: "Device.Hosts.Host.4.", UniqueKeys: map[string]string{"PhysAddress": "aa:bb:cc:dd:ee:ff"}}),
		"notify-delete":   NewNotify("od", true, &ObjectDeletion{Path: "Device.Hosts.Host.4."}),
		"notify-opc-ok":   NewNotify("op", true, &OperationComplete{ObjPath: "Device.DeviceInfo.FirmwareImage.2.", Command: "Download()", CommandKey: "fw-42", Output: map[string]string{}}),
		"notify-opc-out":  NewNotify("op", true, &OperationComplete{ObjPath: "Device.", Command: "X()", CommandKey: "k", Output: map[string]string{"Result": "7"}}),
		"notify-opc-fail": NewNotify("op", true, &OperationComplete{ObjPath: "Device.DeviceInfo.FirmwareImage.2.", Command: "Download()", CommandKey: "fw-42", Err: &usperr.Error{Code: usperr.CommandFailure, Msg: "checksum mismatch", Path: "Device.DeviceInfo.FirmwareImage.2.Download()"}}),
		"notify-onboard":  NewNotify("", true, &OnBoardRequest{OUI: "012345", ProductClass: "RG", SerialNumber: "S1", ProtocolVersions: []string{"1.3", "1.4"}}),
		"notify-resp":     NewNotifyResp("boot-1"),
		"gsp":             NewGetSupportedProtocol("1.0", "1.1", "1.2", "1.3", "1.4"),
		"gsp-resp":        &GetSupportedProtocolResp{Versions: []string{"1.0", "1.3"}},
		"register":        &Register{AllowPartial: true, Paths: []string{"Device.X_Example.", "Device.Y."}},
		"deregister":      &Deregister{Paths: []string{""}},
		"get-resp": &GetResp{Results: []GetResult{
			{RequestedPath: "Device.WiFi.SSID.*.", Resolved: []ResolvedPath{
				{Path: "Device.WiFi.SSID.1.", Params: map[string]string{"SSID": "home", "Stats.BytesSent": "10"}},
				{Path: "Device.WiFi.SSID.2.", Params: map[string]string{"SSID": "guest"}},
			}},
			{RequestedPath: "Device.Nope.", Err: &usperr.Error{Code: usperr.InvalidPath, Msg: "no such object", Path: "Device.Nope."}},
			{RequestedPath: "Device.Hosts.Host.*."},
		}},
		"set-resp": &SetResp{Results: []SetResult{
			{RequestedPath: "Device.WiFi.SSID.1.", Updated: []UpdatedInstance{{Path: "Device.WiFi.SSID.1.", Params: map[string]string{"SSID": "home"},
				ParamErrs: []*usperr.Error{{Code: usperr.InvalidValue, Msg: "bad", Path: "Enable"}}}}},
			{RequestedPath: "Device.DeviceInfo.", Err: &usperr.Error{Code: usperr.ObjectNotUpdated, Msg: "failed", Path: "Device.DeviceInfo."},
				Failed: []InstanceErrors{{Path: "Device.DeviceInfo.", Params: []*usperr.Error{{Code: usperr.ParamReadOnly, Msg: "read-only", Path: "SerialNumber"}}}}},
		}},
		"add-resp": &AddResp{Results: []AddResult{
			{RequestedPath: "Device.LocalAgent.Subscription.", InstantiatedPath: "Device.LocalAgent.Subscription.3.",
				UniqueKeys: map[string]string{"Alias": "cpe-3", "ID": "boot"}, ParamErrs: []*usperr.Error{{Code: usperr.InvalidValue, Msg: "x", Path: "TimeToLive"}}},
			{RequestedPath: "Device.DeviceInfo.", Err: &usperr.Error{Code: usperr.ObjectNotCreatable, Msg: "not a table", Path: "Device.DeviceInfo."}},
		}},
		"delete-resp": &DeleteResp{Results: []DeleteResult{
			{RequestedPath: "Device.Hosts.Host.*.", Affected: []string{"Device.Hosts.Host.1.", "Device.Hosts.Host.2."},
				Unaffected: []*usperr.Error{{Code: usperr.DeleteFailure, Msg: "busy", Path: "Device.Hosts.Host.3."}}},
			{RequestedPath: "Device.Nope.1.", Err: &usperr.Error{Code: usperr.ObjectDoesNotExist, Msg: "gone", Path: "Device.Nope.1."}},
		}},
		"operate-resp": &OperateResp{Results: []OperateResult{
			{Command: "Device.DeviceInfo.FirmwareImage.2.Download()", RequestPath: "Device.LocalAgent.Request.1."},
			{Command: "Device.X()", Output: map[string]string{"Out": "1"}},
			{Command: "Device.Y()", Output: map[string]string{}},
			{Command: "Device.Z()"},
			{Command: "Device.Reboot()", Err: &usperr.Error{Code: usperr.InvalidCommandArguments, Msg: "missing Cause", Path: "Device.Reboot()"}},
		}},
		"get-supp-dm-resp": &GetSupportedDMResp{Results: []SupportedDMResult{
			{RequestedPath: "Device.", DataModelURI: "urn:broadband-forum-org:tr-181-2-19-1", Objects: []SupportedObject{
				{Path: "Device.", Access: ObjReadOnly,
					Commands: []SupportedCommand{{Name: "Reboot()", Inputs: []string{"Cause", "Reason"}, Type: CommandSync}},
					Events:   []SupportedEvent{{Name: "Boot!", Args: []string{"CommandKey", "Cause"}}}},
				{Path: "Device.LocalAgent.Subscription.{i}.", Access: ObjAddDelete, MultiInstance: true,
					Params: []SupportedParam{
						{Name: "Enable", Access: ParamReadWrite, Type: TypeBoolean, ValueChange: ValueChangeAllowed},
						{Name: "CreationDate", Access: ParamReadOnly, Type: TypeDateTime, ValueChange: ValueChangeWillIgnore},
					},
					DivergentPaths: []string{"Device.LocalAgent.Subscription.2."},
					UniqueKeySets:  [][]string{{"Alias"}, {"Recipient", "ID"}}},
			}},
			{RequestedPath: "Device.Nope.", Err: &usperr.Error{Code: usperr.InvalidPath, Msg: "no", Path: "Device.Nope."}},
		}},
		"get-instances-resp": &GetInstancesResp{Results: []InstancesResult{
			{RequestedPath: "Device.IP.Interface.", Instances: []Instance{
				{Path: "Device.IP.Interface.1.", UniqueKeys: map[string]string{"Name": "eth0", "Alias": "cpe-1"}},
				{Path: "Device.IP.Interface.1.IPv4Address.1.", UniqueKeys: map[string]string{"IPAddress": "192.0.2.1"}},
			}},
			{RequestedPath: "Device.DeviceInfo.", Err: &usperr.Error{Code: usperr.ObjectNotATable, Msg: "not a table", Path: "Device.DeviceInfo."}},
		}},
		"register-resp": &RegisterResp{Results: []RegisterResult{
			{RequestedPath: "Device.X_Example.", RegisteredPath: "Device.X_Example."},
			{RequestedPath: "Device.Y.", Err: &usperr.Error{Code: usperr.PathAlreadyRegistered, Msg: "taken", Path: "Device.Y."}},
		}},
		"deregister-resp": &DeregisterResp{Results: []DeregisterResult{
			{RequestedPath: "", Deregistered: []string{"Device.X_Example.", "Device.Y."}},
			{RequestedPath: "Device.Z.", Err: &usperr.Error{Code: usperr.DeregisterFailure, Msg: "no", Path: "Device.Z."}},
		}},
		"error": &ErrorMsg{Err: &usperr.Error{Code: usperr.InvalidValue, Msg: "set failed", Params: []*usperr.Error{
			{Code: usperr.ParamReadOnly, Msg: "read-only", Path: "Device.DeviceInfo.SerialNumber"},
			{Code: usperr.InvalidType, Msg: "not a number", Path: "Device.WiFi.Radio.1.Channel"},
		}}},
	}
}

// TestRoundTripEveryType encodes every message type inside a Record, decodes
// it again and expects the same Go value back.
func TestRoundTripEveryType(t *testing.T) {
	seen := map[MsgType]bool{}
	for name, body := range sampleBodies() {
		t.Run(name, func(t *testing.T) {
			rec, err := NewMsgRecord("os::012345-SIM1", "self::ctl", "id-"+name, body)
			if err != nil {
				t.Fatal(err)
			}
			wire, err := rec.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseRecord(wire)
			if err != nil {
				t.Fatal(err)
			}
			m, err := got.Message()
			if err != nil {
				t.Fatal(err)
			}
			if m.ID != "id-"+name {
				t.Errorf("msg_id = %q", m.ID)
			}
			if !reflect.DeepEqual(m.Body, body) {
				t.Errorf("round trip changed the body:\n got %#v\nwant %#v", m.Body, body)
			}
			if hdr := NewMsg(m.ID, body).GetHeader().GetMsgType(); hdr != body.MsgType() {
				t.Errorf("header type %v, body type %v", hdr, body.MsgType())
			}
		})
		seen[body.MsgType()] = true
	}
	for v := range uspmsg.Header_MsgType_name {
		if !seen[MsgType(v)] {
			t.Errorf("no round-trip sample for %v", MsgType(v))
		}
	}
}

func TestResponseErrAccessors(t *testing.T) {
	b := sampleBodies()
	cases := []struct {
		name string
		err  error
		want usperr.Code
	}{
		{"get-resp", b["get-resp"].(*GetResp).Err(), usperr.InvalidPath},
		{"set-resp", b["set-resp"].(*SetResp).Err(), usperr.ObjectNotUpdated},
		{"add-resp", b["add-resp"].(*AddResp).Err(), usperr.ObjectNotCreatable},
		{"delete-resp", b["delete-resp"].(*DeleteResp).Err(), usperr.DeleteFailure},
		{"operate-resp", b["operate-resp"].(*OperateResp).Err(), usperr.InvalidCommandArguments},
		{"error", Message{ID: "x", Body: b["error"]}.Err(), usperr.InvalidValue},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var e *usperr.Error
			if !errors.As(c.err, &e) {
				t.Fatalf("errors.As found no *usperr.Error in %v", c.err)
			}
			if e.Code != c.want {
				t.Errorf("code = %v, want %v", e.Code, c.want)
			}
			if !errors.Is(c.err, &usperr.Error{Code: c.want}) {
				t.Errorf("errors.Is(%v, code %v) = false", c.err, c.want)
			}
		})
	}
	ok := &GetResp{Results: []GetResult{{RequestedPath: "Device."}}}
	if ok.Err() != nil {
		t.Errorf("successful GetResp.Err() = %v", ok.Err())
	}
	if (Message{ID: "x", Body: ok}).Err() != nil {
		t.Error("Message.Err() of a GetResp is not nil")
	}
	res := b["operate-resp"].(*OperateResp).Results
	if !res[0].Async() || res[1].Async() {
		t.Error("Async() wrong")
	}
}

func TestNewErrorMsgWrapsPlainErrors(t *testing.T) {
	m := NewErrorMsg(errors.New("disk on fire"))
	if m.Err.Code != usperr.InternalError || m.Err.Msg != "disk on fire" {
		t.Errorf("got %+v", m.Err)
	}
	e := usperr.AtPath(usperr.InvalidPath, "Device.X.", "unknown")
	if NewErrorMsg(e).Err != e {
		t.Error("a *usperr.Error is not passed through")
	}
}

func TestParseMsgRejectsMalformed(t *testing.T) {
	cases := []struct {
		name string
		msg  *uspmsg.Msg
		want usperr.Code
	}{
		{"no header", &uspmsg.Msg{Body: NewMsg("a", NewGet(0, "Device.")).Body}, usperr.InvalidArguments},
		{"no msg_id", &uspmsg.Msg{Header: &uspmsg.Header{}, Body: NewMsg("a", NewGet(0, "Device.")).Body}, usperr.InvalidArguments},
		{"no body", &uspmsg.Msg{Header: &uspmsg.Header{MsgId: "a"}}, usperr.InvalidArguments},
		{"empty request", &uspmsg.Msg{Header: &uspmsg.Header{MsgId: "a"}, Body: request(&uspmsg.Request{})}, usperr.InvalidArguments},
		{"empty response", &uspmsg.Msg{Header: &uspmsg.Header{MsgId: "a"}, Body: response(&uspmsg.Response{})}, usperr.InvalidArguments},
		{"notify without content", NewMsg("a", &Notify{SubscriptionID: "x"}), usperr.InvalidArguments},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseMsg(c.msg)
			if got := usperr.CodeOf(err); got != c.want {
				t.Errorf("code = %v (%v), want %v", got, err, c.want)
			}
		})
	}
	if _, err := UnmarshalMsg([]byte{0xff, 0xff}); usperr.CodeOf(err) != usperr.MessageFailed {
		t.Errorf("garbage msg: %v", err)
	}
}

func TestResponseType(t *testing.T) {
	for req, resp := range map[MsgType]MsgType{
		uspmsg.Header_GET: uspmsg.Header_GET_RESP, uspmsg.Header_NOTIFY: uspmsg.Header_NOTIFY_RESP,
		uspmsg.Header_GET_SUPPORTED_PROTO: uspmsg.Header_GET_SUPPORTED_PROTO_RESP,
		uspmsg.Header_DEREGISTER:          uspmsg.Header_DEREGISTER_RESP,
	} {
		if got, ok := ResponseType(req); !ok || got != resp {
			t.Errorf("ResponseType(%v) = %v, %v", req, got, ok)
		}
	}
	if _, ok := ResponseType(uspmsg.Header_GET_RESP); ok {
		t.Error("a response has a response type")
	}
}

func TestBootEventRoundTrip(t *testing.T) {
	b := Boot{CommandKey: "ck", Cause: CauseRemoteReboot, Reason: "operator", FirmwareUpdated: true,
		ParameterMap: map[string]string{"Device.DeviceInfo.SoftwareVersion": "2.0"}}
	got, err := b.Event().Boot()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, b) {
		t.Errorf("got %+v, want %+v", got, b)
	}
	bad := &Event{ObjPath: "Device.", Name: "Boot!", Params: map[string]string{"FirmwareUpdated": "yes"}}
	if _, err := bad.Boot(); err == nil {
		t.Error("FirmwareUpdated=yes accepted")
	}
	bad = &Event{ObjPath: "Device.", Name: "Boot!", Params: map[string]string{"ParameterMap": "{"}}
	if _, err := bad.Boot(); err == nil {
		t.Error("malformed ParameterMap accepted")
	}
	if _, err := (&Event{ObjPath: "Device.LocalAgent.", Name: "Periodic!"}).Boot(); err == nil {
		t.Error("Periodic! read as Boot!")
	}
}
