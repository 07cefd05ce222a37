package usp

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"cuttle/proto/uspmsg"
	"cuttle/usp/usperr"
)

// MsgType is the USP message type carried in a Msg header.
type MsgType = uspmsg.Header_MsgType

// Body is the plain-Go form of one USP message body: a request (such as *Get),
// a response (such as *GetResp) or an *ErrorMsg. The set of implementations is
// closed: it is exactly the types of this package.
type Body interface {
	// MsgType returns the header type that goes with this body.
	MsgType() MsgType
	encode() *uspmsg.Body
}

// Message is a decoded USP Msg.
type Message struct {
	// ID is the msg_id: chosen by a request's sender, echoed by its response.
	ID   string
	Body Body
}

// Type returns the message type of m's body.
func (m Message) Type() MsgType { return m.Body.MsgType() }

// IsRequest reports whether m carries a request (including Notify).
func (m Message) IsRequest() bool { return isRequestType(m.Type()) }

// Err returns the USP error m carries when it is an Error message, else nil.
// Controllers use it to turn an Error response into a Go error.
func (m Message) Err() error {
	if e, ok := m.Body.(*ErrorMsg); ok {
		return e.Err
	}
	return nil
}

// NewMsg builds a Msg with the given msg_id and body.
func NewMsg(id string, b Body) *uspmsg.Msg {
	return &uspmsg.Msg{
		Header: &uspmsg.Header{MsgId: id, MsgType: b.MsgType()},
		Body:   b.encode(),
	}
}

// MarshalMsg builds and serializes a Msg.
func MarshalMsg(id string, b Body) ([]byte, error) {
	out, err := proto.Marshal(NewMsg(id, b))
	if err != nil {
		return nil, fmt.Errorf("encoding %v msg: %w", b.MsgType(), err)
	}
	return out, nil
}

// UnmarshalMsg decodes a serialized Msg. A payload that is not a valid Msg
// returns a *usperr.Error with code MessageFailed.
func UnmarshalMsg(b []byte) (Message, error) {
	var m uspmsg.Msg
	if err := proto.Unmarshal(b, &m); err != nil {
		return Message{}, usperr.New(usperr.MessageFailed, "msg could not be parsed: %v", err)
	}
	return ParseMsg(&m)
}

// ParseMsg turns a Msg into a Message. The body's oneof is authoritative and
// the header's msg_type is not checked against it (R-MSG.10). A Msg without a
// header, msg_id or body fails with InvalidArguments (R-ENC.5); an unknown body
// fails with MessageNotSupported. The returned Message keeps the msg_id even
// on failure, so the caller can answer with an Error.
func ParseMsg(m *uspmsg.Msg) (Message, error) {
	id := m.GetHeader().GetMsgId()
	if m.GetHeader() == nil {
		return Message{}, usperr.New(usperr.InvalidArguments, "msg has no header")
	}
	if id == "" {
		return Message{}, usperr.New(usperr.InvalidArguments, "msg has no msg_id")
	}
	var b Body
	var err error
	switch body := m.GetBody().GetMsgBody().(type) {
	case *uspmsg.Body_Request:
		b, err = decodeRequest(body.Request)
	case *uspmsg.Body_Response:
		b, err = decodeResponse(body.Response)
	case *uspmsg.Body_Error:
		b = decodeErrorMsg(body.Error)
	case nil:
		err = usperr.New(usperr.InvalidArguments, "msg has no body")
	}
	return Message{ID: id, Body: b}, err
}

func decodeRequest(r *uspmsg.Request) (Body, error) {
	switch req := r.GetReqType().(type) {
	case *uspmsg.Request_Get:
		return decodeGet(req.Get), nil
	case *uspmsg.Request_GetSupportedDm:
		return decodeGetSupportedDM(req.GetSupportedDm), nil
	case *uspmsg.Request_GetInstances:
		return decodeGetInstances(req.GetInstances), nil
	case *uspmsg.Request_Set:
		return decodeSet(req.Set), nil
	case *uspmsg.Request_Add:
		return decodeAdd(req.Add), nil
	case *uspmsg.Request_Delete:
		return decodeDelete(req.Delete), nil
	case *uspmsg.Request_Operate:
		return decodeOperate(req.Operate), nil
	case *uspmsg.Request_Notify:
		return decodeNotify(req.Notify)
	case *uspmsg.Request_GetSupportedProtocol:
		return decodeGetSupportedProtocol(req.GetSupportedProtocol), nil
	case *uspmsg.Request_Register:
		return decodeRegister(req.Register), nil
	case *uspmsg.Request_Deregister:
		return decodeDeregister(req.Deregister), nil
	case nil:
		return nil, usperr.New(usperr.InvalidArguments, "request has no type")
	default:
		return nil, usperr.New(usperr.MessageNotSupported, "unsupported request type %T", req)
	}
}

func decodeResponse(r *uspmsg.Response) (Body, error) {
	switch resp := r.GetRespType().(type) {
	case *uspmsg.Response_GetResp:
		return decodeGetResp(resp.GetResp), nil
	case *uspmsg.Response_GetSupportedDmResp:
		return decodeGetSupportedDMResp(resp.GetSupportedDmResp), nil
	case *uspmsg.Response_GetInstancesResp:
		return decodeGetInstancesResp(resp.GetInstancesResp), nil
	case *uspmsg.Response_SetResp:
		return decodeSetResp(resp.SetResp), nil
	case *uspmsg.Response_AddResp:
		return decodeAddResp(resp.AddResp), nil
	case *uspmsg.Response_DeleteResp:
		return decodeDeleteResp(resp.DeleteResp), nil
	case *uspmsg.Response_OperateResp:
		return decodeOperateResp(resp.OperateResp), nil
	case *uspmsg.Response_NotifyResp:
		return &NotifyResp{SubscriptionID: resp.NotifyResp.GetSubscriptionId()}, nil
	case *uspmsg.Response_GetSupportedProtocolResp:
		return &GetSupportedProtocolResp{Versions: splitCSV(resp.GetSupportedProtocolResp.GetAgentSupportedProtocolVersions())}, nil
	case *uspmsg.Response_RegisterResp:
		return decodeRegisterResp(resp.RegisterResp), nil
	case *uspmsg.Response_DeregisterResp:
		return decodeDeregisterResp(resp.DeregisterResp), nil
	case nil:
		return nil, usperr.New(usperr.InvalidArguments, "response has no type")
	default:
		return nil, usperr.New(usperr.MessageNotSupported, "unsupported response type %T", resp)
	}
}

func isRequestType(t MsgType) bool {
	switch t {
	case uspmsg.Header_GET, uspmsg.Header_SET, uspmsg.Header_ADD, uspmsg.Header_DELETE,
		uspmsg.Header_OPERATE, uspmsg.Header_NOTIFY, uspmsg.Header_GET_SUPPORTED_DM,
		uspmsg.Header_GET_INSTANCES, uspmsg.Header_GET_SUPPORTED_PROTO,
		uspmsg.Header_REGISTER, uspmsg.Header_DEREGISTER:
		return true
	}
	return false
}

// ResponseType returns the response type that answers request type t, and
// false when t is not a request.
func ResponseType(t MsgType) (MsgType, bool) {
	switch t {
	case uspmsg.Header_GET:
		return uspmsg.Header_GET_RESP, true
	case uspmsg.Header_SET:
		return uspmsg.Header_SET_RESP, true
	case uspmsg.Header_ADD:
		return uspmsg.Header_ADD_RESP, true
	case uspmsg.Header_DELETE:
		return uspmsg.Header_DELETE_RESP, true
	case uspmsg.Header_OPERATE:
		return uspmsg.Header_OPERATE_RESP, true
	case uspmsg.Header_NOTIFY:
		return uspmsg.Header_NOTIFY_RESP, true
	case uspmsg.Header_GET_SUPPORTED_DM:
		return uspmsg.Header_GET_SUPPORTED_DM_RESP, true
	case uspmsg.Header_GET_INSTANCES:
		return uspmsg.Header_GET_INSTANCES_RESP, true
	case uspmsg.Header_GET_SUPPORTED_PROTO:
		return uspmsg.Header_GET_SUPPORTED_PROTO_RESP, true
	case uspmsg.Header_REGISTER:
		return uspmsg.Header_REGISTER_RESP, true
	case uspmsg.Header_DEREGISTER:
		return uspmsg.Header_DEREGISTER_RESP, true
	}
	return 0, false
}

func request(r *uspmsg.Request) *uspmsg.Body {
	return &uspmsg.Body{MsgBody: &uspmsg.Body_Request{Request: r}}
}

func response(r *uspmsg.Response) *uspmsg.Body {
	return &uspmsg.Body{MsgBody: &uspmsg.Body_Response{Response: r}}
}

// errFromWire turns a (code, message) pair from the wire into an error value;
// code 0 means success and gives nil.
func errFromWire(code uint32, msg, path string) *usperr.Error {
	if code == 0 {
		return nil
	}
	return &usperr.Error{Code: usperr.Code(code), Msg: msg, Path: path}
}

// errToWire returns the code and message of e, or zeros for nil.
func errToWire(e *usperr.Error) (uint32, string) {
	if e == nil {
		return 0, ""
	}
	return uint32(e.Code), e.Msg
}

// nilIfEmpty returns m, or nil when m is empty, so that absent and empty maps
// compare equal after a round trip through protobuf.
func nilIfEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// joinErrs joins per-path failures into one error, nil when there are none.
func joinErrs(errs []*usperr.Error) error {
	if len(errs) == 0 {
		return nil
	}
	list := make([]error, len(errs))
	for i, e := range errs {
		list[i] = e
	}
	return errors.Join(list...)
}

// failure is errFromWire for places where the wire says "this failed": a zero
// code there is a peer's mistake and is reported as the general failure code.
func failure(code uint32, msg, path string) *usperr.Error {
	if code == 0 {
		code = uint32(usperr.MessageFailed)
	}
	return &usperr.Error{Code: usperr.Code(code), Msg: msg, Path: path}
}

// missingStatus is the failure recorded for a per-object result whose
// oper_status oneof is empty, which the spec does not allow (R-ENC.5).
func missingStatus(path string) *usperr.Error {
	return &usperr.Error{Code: usperr.InvalidArguments, Msg: "result has no oper_status", Path: path}
}
