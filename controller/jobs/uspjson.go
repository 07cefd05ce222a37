package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"cuttle/controller/uspjson"
	"cuttle/usp"
	"cuttle/usp/usperr"
)

// The JSON forms of USP responses in a Result are controller/uspjson's,
// the per-device API's own, so that a script reads a job's result for a
// device as it reads that device's answer.

// USPError is a USP failure: a whole result's, a parameter's (param set)
// or an instance's (path set).
type USPError = uspjson.Error

type supportedProtocolResponse = uspjson.SupportedProtocolResponse

var (
	uspErr        = uspjson.FromError
	paramErrs     = uspjson.ParamErrors
	nonNilMap     = uspjson.NonNilMap
	getJSON       = uspjson.Get
	setJSON       = uspjson.Set
	addJSON       = uspjson.Add
	deleteJSON    = uspjson.Delete
	instancesJSON = uspjson.Instances
)

func nonNilSlice[T any](s []T) []T { return uspjson.NonNilSlice(s) }

// Statuses of an executed command in an Operate result, as the API's.
const (
	opCompleted = "completed"
	opFailed    = "failed"
	// opStarted: asynchronous, and not waited for.
	opStarted = "started"
	// opPending: asynchronous, and not complete when the wait ended.
	opPending = "pending"
)

type operateResponse struct {
	CommandKey string          `json:"command_key"`
	Results    []operateResult `json:"results"`
}

type operateResult struct {
	Command     string            `json:"command"`
	Status      string            `json:"status"`
	RequestPath string            `json:"request_path,omitempty"`
	Output      map[string]string `json:"output"`
	Error       *USPError         `json:"error"`
	// Completion is the OperationComplete event that ended an
	// asynchronous command.
	Completion *completion `json:"completion,omitempty"`
}

type completion struct {
	EventID uint64    `json:"event_id"`
	Time    time.Time `json:"time"`
}

func operateJSON(key string, r *usp.OperateResp) operateResponse {
	out := operateResponse{CommandKey: key, Results: make([]operateResult, 0, len(r.Results))}
	for _, res := range r.Results {
		or := operateResult{Command: res.Command, RequestPath: res.RequestPath, Error: uspErr(res.Err)}
		switch {
		case res.Err != nil:
			or.Status = opFailed
		case res.Async():
			or.Status = opStarted
		default:
			or.Status, or.Output = opCompleted, nonNilMap(res.Output)
		}
		out.Results = append(out.Results, or)
	}
	return out
}

// responseJSON encodes a device's response and returns the first per-path
// failure it carries, if any: a response with failures is the device's
// answer, but not a success.
func responseJSON(req usp.Body, body usp.Body) (json.RawMessage, *usperr.Error, error) {
	var v any
	var failed error
	switch r := body.(type) {
	case *usp.GetResp:
		v, failed = getJSON(r), r.Err()
	case *usp.SetResp:
		v, failed = setJSON(r), r.Err()
	case *usp.AddResp:
		v, failed = addJSON(r), r.Err()
	case *usp.DeleteResp:
		v, failed = deleteJSON(r), r.Err()
	case *usp.OperateResp:
		key := ""
		if op, ok := req.(*usp.Operate); ok {
			key = op.CommandKey
		}
		v, failed = operateJSON(key, r), r.Err()
	case *usp.GetInstancesResp:
		v = instancesJSON(r)
		for _, res := range r.Results {
			if res.Err != nil && failed == nil {
				failed = res.Err
			}
		}
	case *usp.GetSupportedProtocolResp:
		v = supportedProtocolResponse{Versions: nonNilSlice(r.Versions)}
	default:
		return nil, nil, fmt.Errorf("no JSON form for %T", body)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, nil, err
	}
	var first *usperr.Error
	if failed != nil {
		errors.As(failed, &first)
	}
	return b, first, nil
}
