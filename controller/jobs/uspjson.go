package jobs

import (
	"encoding/json"
	"errors"
	"fmt"

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

var paramErrs = uspjson.ParamErrors

// An Operate's answer, as the API's.
type (
	operateResponse = uspjson.OperateResponse
	operateResult   = uspjson.OperateResult
)

const (
	opFailed  = uspjson.OpFailed
	opStarted = uspjson.OpStarted
	opPending = uspjson.OpPending
)

var operateJSON = uspjson.Operate

// responseJSON encodes a device's response and returns the first per-path
// failure it carries, if any: a response with failures is the device's
// answer, but not a success.
func responseJSON(req usp.Body, body usp.Body) (json.RawMessage, *usperr.Error, error) {
	v, ok := uspjson.Response(req, body)
	if !ok {
		return nil, nil, fmt.Errorf("no JSON form for %T", body)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, nil, err
	}
	var failed error
	switch r := body.(type) {
	case interface{ Err() error }:
		failed = r.Err()
	case *usp.GetInstancesResp:
		for _, res := range r.Results {
			if res.Err != nil {
				failed = res.Err
				break
			}
		}
	}
	var first *usperr.Error
	if failed != nil {
		errors.As(failed, &first)
	}
	return b, first, nil
}
