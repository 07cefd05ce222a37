package mqttmtp

import (
	"context"
	"fmt"

	"cuttle/usp"
)

// The typed helpers send one request with Do and return its response
// body. A USP Error response is returned as a *usperr.Error; per-path
// failures stay inside the response (its Err method joins them).

// Get reads parameter values.
func (c *Client) Get(ctx context.Context, eid string, r *usp.Get) (*usp.GetResp, error) {
	return doTyped[*usp.GetResp](ctx, c, eid, r)
}

// Set changes parameter values.
func (c *Client) Set(ctx context.Context, eid string, r *usp.Set) (*usp.SetResp, error) {
	return doTyped[*usp.SetResp](ctx, c, eid, r)
}

// Add creates object instances.
func (c *Client) Add(ctx context.Context, eid string, r *usp.Add) (*usp.AddResp, error) {
	return doTyped[*usp.AddResp](ctx, c, eid, r)
}

// Delete removes object instances.
func (c *Client) Delete(ctx context.Context, eid string, r *usp.Delete) (*usp.DeleteResp, error) {
	return doTyped[*usp.DeleteResp](ctx, c, eid, r)
}

// Operate runs a command and returns its OperateResp; it always asks for
// one (send_resp true), whatever r says, without changing r. An
// asynchronous command's result (OperateResult.RequestPath set) arrives
// later as an OperationComplete Notify, through the Handler. Use Send for
// an Operate without a response.
func (c *Client) Operate(ctx context.Context, eid string, r *usp.Operate) (*usp.OperateResp, error) {
	if r == nil {
		return nil, fmt.Errorf("%w: nil Operate", ErrInvalidRequest)
	}
	op := *r
	op.SendResp = true
	return doTyped[*usp.OperateResp](ctx, c, eid, &op)
}

// GetSupportedDM reads the supported data model.
func (c *Client) GetSupportedDM(ctx context.Context, eid string, r *usp.GetSupportedDM) (*usp.GetSupportedDMResp, error) {
	return doTyped[*usp.GetSupportedDMResp](ctx, c, eid, r)
}

// GetInstances lists object instances.
func (c *Client) GetInstances(ctx context.Context, eid string, r *usp.GetInstances) (*usp.GetInstancesResp, error) {
	return doTyped[*usp.GetInstancesResp](ctx, c, eid, r)
}

// GetSupportedProtocol asks which USP versions the device speaks.
func (c *Client) GetSupportedProtocol(ctx context.Context, eid string, r *usp.GetSupportedProtocol) (*usp.GetSupportedProtocolResp, error) {
	return doTyped[*usp.GetSupportedProtocolResp](ctx, c, eid, r)
}

// doTyped runs Do with a request whose pointer may be nil (a nil *usp.Get
// is not a nil usp.Body, so it is caught here) and asserts the response
// type, which Do has already checked.
func doTyped[R usp.Body, Q interface {
	usp.Body
	comparable
}](ctx context.Context, c *Client, eid string, req Q) (R, error) {
	var zero R
	var none Q
	if req == none {
		return zero, fmt.Errorf("%w: nil request", ErrInvalidRequest)
	}
	m, err := c.Do(ctx, eid, req)
	if err != nil {
		return zero, err
	}
	r, ok := m.Body.(R)
	if !ok {
		return zero, fmt.Errorf("usp %v to %s: %w: got %v", req.MsgType(), eid, ErrUnexpectedResponse, m.Type())
	}
	return r, nil
}
