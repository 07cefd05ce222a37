package usp

import (
	"cuttle/proto/uspmsg"
	"cuttle/usp/usperr"
)

// Access, type and mode enums of GetSupportedDMResp, named for readability.
type (
	ObjAccess       = uspmsg.GetSupportedDMResp_ObjAccessType
	ParamAccess     = uspmsg.GetSupportedDMResp_ParamAccessType
	ParamType       = uspmsg.GetSupportedDMResp_ParamValueType
	ValueChangeMode = uspmsg.GetSupportedDMResp_ValueChangeType
	CommandType     = uspmsg.GetSupportedDMResp_CmdType
)

// Values of the GetSupportedDMResp enums.
const (
	ObjReadOnly   = uspmsg.GetSupportedDMResp_OBJ_READ_ONLY
	ObjAddDelete  = uspmsg.GetSupportedDMResp_OBJ_ADD_DELETE
	ObjAddOnly    = uspmsg.GetSupportedDMResp_OBJ_ADD_ONLY
	ObjDeleteOnly = uspmsg.GetSupportedDMResp_OBJ_DELETE_ONLY

	ParamReadOnly  = uspmsg.GetSupportedDMResp_PARAM_READ_ONLY
	ParamReadWrite = uspmsg.GetSupportedDMResp_PARAM_READ_WRITE
	ParamWriteOnly = uspmsg.GetSupportedDMResp_PARAM_WRITE_ONLY

	TypeUnknown      = uspmsg.GetSupportedDMResp_PARAM_UNKNOWN
	TypeBase64       = uspmsg.GetSupportedDMResp_PARAM_BASE_64
	TypeBoolean      = uspmsg.GetSupportedDMResp_PARAM_BOOLEAN
	TypeDateTime     = uspmsg.GetSupportedDMResp_PARAM_DATE_TIME
	TypeDecimal      = uspmsg.GetSupportedDMResp_PARAM_DECIMAL
	TypeHexBinary    = uspmsg.GetSupportedDMResp_PARAM_HEX_BINARY
	TypeInt          = uspmsg.GetSupportedDMResp_PARAM_INT
	TypeLong         = uspmsg.GetSupportedDMResp_PARAM_LONG
	TypeString       = uspmsg.GetSupportedDMResp_PARAM_STRING
	TypeUnsignedInt  = uspmsg.GetSupportedDMResp_PARAM_UNSIGNED_INT
	TypeUnsignedLong = uspmsg.GetSupportedDMResp_PARAM_UNSIGNED_LONG

	ValueChangeUnknown    = uspmsg.GetSupportedDMResp_VALUE_CHANGE_UNKNOWN
	ValueChangeAllowed    = uspmsg.GetSupportedDMResp_VALUE_CHANGE_ALLOWED
	ValueChangeWillIgnore = uspmsg.GetSupportedDMResp_VALUE_CHANGE_WILL_IGNORE

	CommandUnknown = uspmsg.GetSupportedDMResp_CMD_UNKNOWN
	CommandSync    = uspmsg.GetSupportedDMResp_CMD_SYNC
	CommandAsync   = uspmsg.GetSupportedDMResp_CMD_ASYNC
)

// GetSupportedDM asks for the supported data model: objects, and optionally
// their parameters, commands, events and unique key sets (R-GSP).
type GetSupportedDM struct {
	Paths               []string
	FirstLevelOnly      bool
	ReturnCommands      bool
	ReturnEvents        bool
	ReturnParams        bool
	ReturnUniqueKeySets bool
}

// MsgType implements Body.
func (*GetSupportedDM) MsgType() MsgType { return uspmsg.Header_GET_SUPPORTED_DM }

func (g *GetSupportedDM) encode() *uspmsg.Body {
	return request(&uspmsg.Request{ReqType: &uspmsg.Request_GetSupportedDm{GetSupportedDm: &uspmsg.GetSupportedDM{
		ObjPaths: g.Paths, FirstLevelOnly: g.FirstLevelOnly, ReturnCommands: g.ReturnCommands,
		ReturnEvents: g.ReturnEvents, ReturnParams: g.ReturnParams, ReturnUniqueKeySets: g.ReturnUniqueKeySets,
	}}})
}

func decodeGetSupportedDM(g *uspmsg.GetSupportedDM) *GetSupportedDM {
	return &GetSupportedDM{
		Paths: g.GetObjPaths(), FirstLevelOnly: g.GetFirstLevelOnly(), ReturnCommands: g.GetReturnCommands(),
		ReturnEvents: g.GetReturnEvents(), ReturnParams: g.GetReturnParams(), ReturnUniqueKeySets: g.GetReturnUniqueKeySets(),
	}
}

// GetSupportedDMResp answers a GetSupportedDM.
type GetSupportedDMResp struct {
	Results []SupportedDMResult
}

// SupportedDMResult is the outcome for one requested object path.
type SupportedDMResult struct {
	RequestedPath string
	Err           *usperr.Error
	// DataModelURI names the data model, e.g. "urn:broadband-forum-org:tr-181-2-19-1".
	DataModelURI string
	Objects      []SupportedObject
}

// SupportedObject describes one supported object, in supported-DM path form
// (instances written "{i}").
type SupportedObject struct {
	Path           string
	Access         ObjAccess
	MultiInstance  bool
	Commands       []SupportedCommand
	Events         []SupportedEvent
	Params         []SupportedParam
	DivergentPaths []string
	// UniqueKeySets lists each unique key set as its parameter names.
	UniqueKeySets [][]string
}

// SupportedParam describes one supported parameter.
type SupportedParam struct {
	Name        string
	Access      ParamAccess
	Type        ParamType
	ValueChange ValueChangeMode
}

// SupportedCommand describes one supported command, e.g. "Reboot()".
type SupportedCommand struct {
	Name    string
	Inputs  []string
	Outputs []string
	Type    CommandType
}

// SupportedEvent describes one supported event, e.g. "Boot!".
type SupportedEvent struct {
	Name string
	Args []string
}

// MsgType implements Body.
func (*GetSupportedDMResp) MsgType() MsgType { return uspmsg.Header_GET_SUPPORTED_DM_RESP }

func (g *GetSupportedDMResp) encode() *uspmsg.Body {
	out := &uspmsg.GetSupportedDMResp{}
	for _, r := range g.Results {
		rr := &uspmsg.GetSupportedDMResp_RequestedObjectResult{ReqObjPath: r.RequestedPath, DataModelInstUri: r.DataModelURI}
		rr.ErrCode, rr.ErrMsg = errToWire(r.Err)
		for _, o := range r.Objects {
			so := &uspmsg.GetSupportedDMResp_SupportedObjectResult{
				SupportedObjPath: o.Path, Access: o.Access, IsMultiInstance: o.MultiInstance, DivergentPaths: o.DivergentPaths,
			}
			for _, c := range o.Commands {
				so.SupportedCommands = append(so.SupportedCommands, &uspmsg.GetSupportedDMResp_SupportedCommandResult{
					CommandName: c.Name, InputArgNames: c.Inputs, OutputArgNames: c.Outputs, CommandType: c.Type,
				})
			}
			for _, e := range o.Events {
				so.SupportedEvents = append(so.SupportedEvents, &uspmsg.GetSupportedDMResp_SupportedEventResult{EventName: e.Name, ArgNames: e.Args})
			}
			for _, p := range o.Params {
				so.SupportedParams = append(so.SupportedParams, &uspmsg.GetSupportedDMResp_SupportedParamResult{
					ParamName: p.Name, Access: p.Access, ValueType: p.Type, ValueChange: p.ValueChange,
				})
			}
			for _, ks := range o.UniqueKeySets {
				so.UniqueKeySets = append(so.UniqueKeySets, &uspmsg.GetSupportedDMResp_SupportedUniqueKeySet{KeyNames: ks})
			}
			rr.SupportedObjs = append(rr.SupportedObjs, so)
		}
		out.ReqObjResults = append(out.ReqObjResults, rr)
	}
	return response(&uspmsg.Response{RespType: &uspmsg.Response_GetSupportedDmResp{GetSupportedDmResp: out}})
}

func decodeGetSupportedDMResp(g *uspmsg.GetSupportedDMResp) *GetSupportedDMResp {
	out := &GetSupportedDMResp{}
	for _, r := range g.GetReqObjResults() {
		res := SupportedDMResult{
			RequestedPath: r.GetReqObjPath(), DataModelURI: r.GetDataModelInstUri(),
			Err: errFromWire(r.GetErrCode(), r.GetErrMsg(), r.GetReqObjPath()),
		}
		for _, so := range r.GetSupportedObjs() {
			o := SupportedObject{
				Path: so.GetSupportedObjPath(), Access: so.GetAccess(), MultiInstance: so.GetIsMultiInstance(),
				DivergentPaths: so.GetDivergentPaths(),
			}
			for _, c := range so.GetSupportedCommands() {
				o.Commands = append(o.Commands, SupportedCommand{Name: c.GetCommandName(), Inputs: c.GetInputArgNames(), Outputs: c.GetOutputArgNames(), Type: c.GetCommandType()})
			}
			for _, e := range so.GetSupportedEvents() {
				o.Events = append(o.Events, SupportedEvent{Name: e.GetEventName(), Args: e.GetArgNames()})
			}
			for _, p := range so.GetSupportedParams() {
				o.Params = append(o.Params, SupportedParam{Name: p.GetParamName(), Access: p.GetAccess(), Type: p.GetValueType(), ValueChange: p.GetValueChange()})
			}
			for _, ks := range so.GetUniqueKeySets() {
				o.UniqueKeySets = append(o.UniqueKeySets, ks.GetKeyNames())
			}
			res.Objects = append(res.Objects, o)
		}
		out.Results = append(out.Results, res)
	}
	return out
}
