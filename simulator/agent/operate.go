package agent

import (
	"cuttle/devices/tr181"
	"cuttle/usp"
	"cuttle/usp/path"
	"cuttle/usp/usperr"
)

// handleOperate answers an Operate (TR-369 "The Operate Message").
//
// When the message itself is wrong the answer is an Error: 7026 for a path
// that is not a command of the supported data model, 7016 for a concrete
// instance that does not exist. Otherwise every matched command runs and
// reports in its own OperationResult; a failing command gets a cmd_failure,
// never an Error (R-OPR.1): 7027 for a missing mandatory input (R-OPR.5),
// 7022 when it cannot run. Unknown inputs are ignored (R-OPR.6).
// Synchronous commands return req_output_args; asynchronous ones create a
// Device.LocalAgent.Request.{i} each (R-OPR.0, R-OPR.2) and return its path.
// With send_resp=false the commands run and nothing is returned, except an
// Error for a message that could not be processed at all (R-OPR.4 leaves
// that open, and a Controller may want to learn about it).
func (a *Agent) handleOperate(from string, req *usp.Operate) usp.Body {
	p, err := path.Parse(req.Command)
	if err != nil {
		return &usp.ErrorMsg{Err: usperr.As(err)}
	}
	if p.Kind() != path.Command {
		return &usp.ErrorMsg{Err: usperr.AtPath(usperr.InvalidPath, req.Command, "Operate takes a command path ending in \"()\", not a %s path", p.Kind())}
	}
	r, uerr := a.resolve(p, len(p.Segments)-1)
	if uerr != nil {
		return &usp.ErrorMsg{Err: uerr}
	}
	cmd := r.obj.Command(p.Name() + "()")
	switch {
	case r.table:
		return &usp.ErrorMsg{Err: usperr.AtPath(usperr.InvalidPath, req.Command, "%s is a table: address its instances", r.obj.Path)}
	case cmd == nil:
		return &usp.ErrorMsg{Err: usperr.AtPath(usperr.InvalidPath, req.Command, "%s has no command %s()", r.obj.Path, p.Name())}
	}
	resp := &usp.OperateResp{Results: make([]usp.OperateResult, 0, len(r.nodes))}
	for _, n := range r.nodes {
		resp.Results = append(resp.Results, a.operate(from, n, cmd, req))
	}
	if !req.SendResp {
		return nil
	}
	return resp
}

// operate runs one command on one instance.
func (a *Agent) operate(from string, n *node, cmd *tr181.Command, req *usp.Operate) usp.OperateResult {
	res := usp.OperateResult{Command: n.path() + cmd.Name}
	for _, in := range cmd.Inputs {
		if _, ok := req.Args[in.Name]; in.Mandatory && !ok {
			res.Err = usperr.New(usperr.InvalidCommandArguments, "missing mandatory input argument %s", in.Name)
			return res
		}
	}
	s := dm()
	var err *usperr.Error
	switch {
	case n.obj == s.root && cmd.Name == "Reboot()":
		err = a.scheduleReboot(req, false)
	case n.obj == s.root && cmd.Name == "FactoryReset()":
		err = a.scheduleReboot(req, true)
	case n.obj == s.firmwareImage && cmd.Name == "Download()":
		res.RequestPath, err = a.startDownload(from, n, req)
	case n.obj == s.firmwareImage && cmd.Name == "Activate()":
		res.RequestPath, err = a.startActivate(from, n, req)
	case n.obj == s.request && cmd.Name == "Cancel()":
		err = a.cancel(n)
	default:
		err = usperr.New(usperr.CommandFailure, "%s is not implemented by this agent", cmd.Name)
	}
	switch {
	case err != nil:
		res.Err = err
	case res.RequestPath == "":
		res.Output = map[string]string{}
	}
	return res
}

// scheduleReboot makes Rebooting report a pending reboot, which the MTP
// layer carries out. Reboot() takes Cause LocalReboot or RemoteReboot
// (default), FactoryReset() LocalFactoryReset or RemoteFactoryReset
// (default); both take a free-text Reason that Boot! reports.
func (a *Agent) scheduleReboot(req *usp.Operate, factory bool) *usperr.Error {
	cause, ok := req.Args["Cause"]
	allowed := []string{usp.CauseLocalReboot, usp.CauseRemoteReboot}
	if factory {
		allowed = []string{usp.CauseLocalFactoryReset, usp.CauseRemoteFactoryReset}
	}
	if !ok {
		cause = allowed[1]
	}
	if cause != allowed[0] && cause != allowed[1] {
		return usperr.New(usperr.InvalidCommandArguments, "Cause %q is not %s or %s", cause, allowed[0], allowed[1])
	}
	a.reboot.pending = true
	a.reboot.cause = cause
	a.reboot.key = req.CommandKey
	a.reboot.reason = req.Args["Reason"]
	a.reboot.factory = a.reboot.factory || factory
	a.debug("reboot requested", "cause", cause, "command_key", req.CommandKey)
	return nil
}

// startRequest creates the Device.LocalAgent.Request.{i} row that tracks an
// asynchronous command.
func (a *Agent) startRequest(from string, n *node, cmd, key string) *node {
	la := a.root.child("LocalAgent")
	row := a.addRow(la, dm().request)
	row.put("Alias", "cpe-"+uitoa(row.num))
	row.put("Originator", from)
	row.put("Command", n.path()+cmd)
	row.put("CommandKey", key)
	row.put("Status", "Active")
	a.created(row)
	return row
}
