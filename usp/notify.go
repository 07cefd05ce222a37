package usp

import (
	"cuttle/proto/uspmsg"
	"cuttle/usp/usperr"
)

// Notify is a notification from an agent to a controller (R-NOT).
type Notify struct {
	// SubscriptionID is the ID of the Device.LocalAgent.Subscription.{i}
	// that caused it ("" for OnBoardRequest).
	SubscriptionID string
	// SendResp asks the controller for a NotifyResp; agents resend until
	// they get one.
	SendResp bool
	// Notification is one of *Event, *ValueChange, *ObjectCreation,
	// *ObjectDeletion, *OperationComplete or *OnBoardRequest.
	Notification Notification
}

// Notification is the content of a Notify.
type Notification interface {
	notification(*uspmsg.Notify)
}

// NewNotify returns a Notify carrying n.
func NewNotify(subscriptionID string, sendResp bool, n Notification) *Notify {
	return &Notify{SubscriptionID: subscriptionID, SendResp: sendResp, Notification: n}
}

// MsgType implements Body.
func (*Notify) MsgType() MsgType { return uspmsg.Header_NOTIFY }

func (n *Notify) encode() *uspmsg.Body {
	out := &uspmsg.Notify{SubscriptionId: n.SubscriptionID, SendResp: n.SendResp}
	if n.Notification != nil {
		n.Notification.notification(out)
	}
	return request(&uspmsg.Request{ReqType: &uspmsg.Request_Notify{Notify: out}})
}

func decodeNotify(n *uspmsg.Notify) (*Notify, error) {
	out := &Notify{SubscriptionID: n.GetSubscriptionId(), SendResp: n.GetSendResp()}
	switch v := n.GetNotification().(type) {
	case *uspmsg.Notify_Event_:
		out.Notification = &Event{ObjPath: v.Event.GetObjPath(), Name: v.Event.GetEventName(), Params: nilIfEmpty(v.Event.GetParams())}
	case *uspmsg.Notify_ValueChange_:
		out.Notification = &ValueChange{Path: v.ValueChange.GetParamPath(), Value: v.ValueChange.GetParamValue()}
	case *uspmsg.Notify_ObjCreation:
		out.Notification = &ObjectCreation{Path: v.ObjCreation.GetObjPath(), UniqueKeys: nilIfEmpty(v.ObjCreation.GetUniqueKeys())}
	case *uspmsg.Notify_ObjDeletion:
		out.Notification = &ObjectDeletion{Path: v.ObjDeletion.GetObjPath()}
	case *uspmsg.Notify_OperComplete:
		oc := v.OperComplete
		c := &OperationComplete{ObjPath: oc.GetObjPath(), Command: oc.GetCommandName(), CommandKey: oc.GetCommandKey()}
		switch r := oc.GetOperationResp().(type) {
		case *uspmsg.Notify_OperationComplete_ReqOutputArgs:
			c.Output = nonNil(r.ReqOutputArgs.GetOutputArgs())
		case *uspmsg.Notify_OperationComplete_CmdFailure:
			c.Err = failure(r.CmdFailure.GetErrCode(), r.CmdFailure.GetErrMsg(), oc.GetObjPath()+oc.GetCommandName())
		default:
			// Neither outcome was sent; read it as success without output,
			// as for a synchronous OperateResp.
			c.Output = map[string]string{}
		}
		out.Notification = c
	case *uspmsg.Notify_OnBoardReq:
		ob := v.OnBoardReq
		out.Notification = &OnBoardRequest{
			OUI: ob.GetOui(), ProductClass: ob.GetProductClass(), SerialNumber: ob.GetSerialNumber(),
			ProtocolVersions: splitCSV(ob.GetAgentSupportedProtocolVersions()),
		}
	case nil:
		return out, usperr.New(usperr.InvalidArguments, "notify has no notification")
	}
	return out, nil
}

// Event is an event notification, e.g. Boot! on "Device.".
type Event struct {
	// ObjPath is the object the event belongs to, e.g. "Device.".
	ObjPath string
	// Name is the event name with its "!", e.g. "Boot!".
	Name   string
	Params map[string]string
}

func (e *Event) notification(n *uspmsg.Notify) {
	n.Notification = &uspmsg.Notify_Event_{Event: &uspmsg.Notify_Event{ObjPath: e.ObjPath, EventName: e.Name, Params: e.Params}}
}

// Path returns the full event path, e.g. "Device.Boot!".
func (e *Event) Path() string { return e.ObjPath + e.Name }

// ValueChange reports a parameter's new value.
type ValueChange struct {
	Path  string
	Value string
}

func (v *ValueChange) notification(n *uspmsg.Notify) {
	n.Notification = &uspmsg.Notify_ValueChange_{ValueChange: &uspmsg.Notify_ValueChange{ParamPath: v.Path, ParamValue: v.Value}}
}

// ObjectCreation reports a new object instance and its unique keys.
type ObjectCreation struct {
	Path       string
	UniqueKeys map[string]string
}

func (o *ObjectCreation) notification(n *uspmsg.Notify) {
	n.Notification = &uspmsg.Notify_ObjCreation{ObjCreation: &uspmsg.Notify_ObjectCreation{ObjPath: o.Path, UniqueKeys: o.UniqueKeys}}
}

// ObjectDeletion reports a deleted object instance.
type ObjectDeletion struct {
	Path string
}

func (o *ObjectDeletion) notification(n *uspmsg.Notify) {
	n.Notification = &uspmsg.Notify_ObjDeletion{ObjDeletion: &uspmsg.Notify_ObjectDeletion{ObjPath: o.Path}}
}

// OperationComplete reports the end of an asynchronous command. Exactly one of
// Output and Err is set.
type OperationComplete struct {
	// ObjPath is the object the command ran on, e.g. "Device.DeviceInfo.FirmwareImage.2.".
	ObjPath string
	// Command is the command name relative to ObjPath, e.g. "Download()".
	Command    string
	CommandKey string
	Output     map[string]string
	Err        *usperr.Error
}

func (o *OperationComplete) notification(n *uspmsg.Notify) {
	out := &uspmsg.Notify_OperationComplete{ObjPath: o.ObjPath, CommandName: o.Command, CommandKey: o.CommandKey}
	if o.Err != nil {
		code, msg := errToWire(o.Err)
		out.OperationResp = &uspmsg.Notify_OperationComplete_CmdFailure{
			CmdFailure: &uspmsg.Notify_OperationComplete_CommandFailure{ErrCode: code, ErrMsg: msg},
		}
	} else {
		out.OperationResp = &uspmsg.Notify_OperationComplete_ReqOutputArgs{
			ReqOutputArgs: &uspmsg.Notify_OperationComplete_OutputArgs{OutputArgs: o.Output},
		}
	}
	n.Notification = &uspmsg.Notify_OperComplete{OperComplete: out}
}

// OnBoardRequest asks a controller to on-board the agent; always sent with
// SendResp true.
type OnBoardRequest struct {
	OUI              string
	ProductClass     string
	SerialNumber     string
	ProtocolVersions []string
}

func (o *OnBoardRequest) notification(n *uspmsg.Notify) {
	n.Notification = &uspmsg.Notify_OnBoardReq{OnBoardReq: &uspmsg.Notify_OnBoardRequest{
		Oui: o.OUI, ProductClass: o.ProductClass, SerialNumber: o.SerialNumber,
		AgentSupportedProtocolVersions: joinCSV(o.ProtocolVersions),
	}}
}

// NotifyResp acknowledges a Notify sent with SendResp; it must echo the
// Notify's subscription ID (R-NOT.10).
type NotifyResp struct {
	SubscriptionID string
}

// NewNotifyResp returns the acknowledgement of a Notify with subscriptionID.
func NewNotifyResp(subscriptionID string) *NotifyResp {
	return &NotifyResp{SubscriptionID: subscriptionID}
}

// MsgType implements Body.
func (*NotifyResp) MsgType() MsgType { return uspmsg.Header_NOTIFY_RESP }

func (n *NotifyResp) encode() *uspmsg.Body {
	return response(&uspmsg.Response{RespType: &uspmsg.Response_NotifyResp{NotifyResp: &uspmsg.NotifyResp{SubscriptionId: n.SubscriptionID}}})
}
