package usp

import (
	"cuttle/proto/uspmsg"
	"cuttle/usp/usperr"
)

// Operate runs a command, e.g. "Device.Reboot()" (R-OPR).
type Operate struct {
	// Command is a command path, possibly a search path.
	Command    string
	CommandKey string
	// SendResp asks for an OperateResp; without it the agent stays silent.
	SendResp bool
	// Args are the input arguments, e.g. "URL" or "TimeWindow.1.Start".
	Args map[string]string
}

// NewOperate returns an Operate of command with the given key and arguments.
func NewOperate(command, commandKey string, sendResp bool, args map[string]string) *Operate {
	return &Operate{Command: command, CommandKey: commandKey, SendResp: sendResp, Args: args}
}

// MsgType implements Body.
func (*Operate) MsgType() MsgType { return uspmsg.Header_OPERATE }

func (o *Operate) encode() *uspmsg.Body {
	return request(&uspmsg.Request{ReqType: &uspmsg.Request_Operate{Operate: &uspmsg.Operate{
		Command: o.Command, CommandKey: o.CommandKey, SendResp: o.SendResp, InputArgs: o.Args,
	}}})
}

func decodeOperate(o *uspmsg.Operate) *Operate {
	return &Operate{Command: o.GetCommand(), CommandKey: o.GetCommandKey(), SendResp: o.GetSendResp(), Args: nilIfEmpty(o.GetInputArgs())}
}

// OperateResp answers an Operate: one result per command instance executed.
type OperateResp struct {
	Results []OperateResult
}

// OperateResult is the outcome of one executed command. At most one of
// RequestPath (async started), Output (sync done) and Err (failed) is set. The
// spec's own example of a synchronous result carries none of them, so a
// result with none is a synchronous success with no output.
type OperateResult struct {
	// Command is the executed command path, with instance numbers.
	Command string
	// RequestPath is the Device.LocalAgent.Request.{i}. instance tracking an
	// asynchronous command; its end arrives as an OperationComplete Notify.
	RequestPath string
	// Output holds a synchronous command's output arguments; non-nil (maybe
	// empty) when the peer sent req_output_args.
	Output map[string]string
	// Err is the command's failure (cmd_failure); Operate failures never come
	// as an Error message (R-OPR.1).
	Err *usperr.Error
}

// Async reports whether the command was started asynchronously.
func (r OperateResult) Async() bool { return r.RequestPath != "" }

// MsgType implements Body.
func (*OperateResp) MsgType() MsgType { return uspmsg.Header_OPERATE_RESP }

func (o *OperateResp) encode() *uspmsg.Body {
	out := &uspmsg.OperateResp{}
	for _, r := range o.Results {
		res := &uspmsg.OperateResp_OperationResult{ExecutedCommand: r.Command}
		switch {
		case r.Err != nil:
			code, msg := errToWire(r.Err)
			res.OperationResp = &uspmsg.OperateResp_OperationResult_CmdFailure{
				CmdFailure: &uspmsg.OperateResp_OperationResult_CommandFailure{ErrCode: code, ErrMsg: msg},
			}
		case r.RequestPath != "":
			res.OperationResp = &uspmsg.OperateResp_OperationResult_ReqObjPath{ReqObjPath: r.RequestPath}
		case r.Output != nil:
			res.OperationResp = &uspmsg.OperateResp_OperationResult_ReqOutputArgs{
				ReqOutputArgs: &uspmsg.OperateResp_OperationResult_OutputArgs{OutputArgs: r.Output},
			}
		}
		out.OperationResults = append(out.OperationResults, res)
	}
	return response(&uspmsg.Response{RespType: &uspmsg.Response_OperateResp{OperateResp: out}})
}

func decodeOperateResp(o *uspmsg.OperateResp) *OperateResp {
	out := &OperateResp{}
	for _, r := range o.GetOperationResults() {
		res := OperateResult{Command: r.GetExecutedCommand()}
		switch v := r.GetOperationResp().(type) {
		case *uspmsg.OperateResp_OperationResult_CmdFailure:
			res.Err = failure(v.CmdFailure.GetErrCode(), v.CmdFailure.GetErrMsg(), res.Command)
		case *uspmsg.OperateResp_OperationResult_ReqObjPath:
			res.RequestPath = v.ReqObjPath
		case *uspmsg.OperateResp_OperationResult_ReqOutputArgs:
			res.Output = nonNil(v.ReqOutputArgs.GetOutputArgs())
		}
		out.Results = append(out.Results, res)
	}
	return out
}

// Err returns the failed commands joined into one error, or nil.
func (o *OperateResp) Err() error {
	var errs []*usperr.Error
	for _, r := range o.Results {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
	}
	return joinErrs(errs)
}

// nonNil returns m, or an empty map when m is nil, for places where presence
// matters even without entries.
func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
