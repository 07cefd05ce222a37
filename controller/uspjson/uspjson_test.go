package uspjson

import (
	"encoding/json"
	"testing"

	"cuttle/usp"
)

// TestResponse: every response a request here gets has a JSON form, an
// Operate's with the request's command key; anything else has none.
func TestResponse(t *testing.T) {
	for _, tc := range []struct {
		req, resp usp.Body
		want      string
	}{
		{usp.NewGet(0, "Device.X."), &usp.GetResp{}, `{"results":[],"values":{}}`},
		{&usp.Set{}, &usp.SetResp{}, `{"results":[],"values":{}}`},
		{&usp.Add{}, &usp.AddResp{}, `{"results":[]}`},
		{&usp.Delete{}, &usp.DeleteResp{}, `{"results":[]}`},
		{usp.NewOperate("Device.Reboot()", "k", true, nil), &usp.OperateResp{}, `{"command_key":"k","results":[]}`},
		{&usp.GetInstances{}, &usp.GetInstancesResp{}, `{"results":[]}`},
		{&usp.GetSupportedDM{}, &usp.GetSupportedDMResp{}, `{"results":[]}`},
		{&usp.GetSupportedProtocol{}, &usp.GetSupportedProtocolResp{Versions: []string{"1.4"}}, `{"versions":["1.4"]}`},
	} {
		v, ok := Response(tc.req, tc.resp)
		if !ok {
			t.Errorf("%T has no JSON form", tc.resp)
			continue
		}
		if b, err := json.Marshal(v); err != nil || string(b) != tc.want {
			t.Errorf("%T: %s, %v; want %s", tc.resp, b, err, tc.want)
		}
	}
	if v, ok := Response(&usp.Get{}, &usp.Get{}); ok {
		t.Errorf("a request has a JSON form as a response: %v", v)
	}
}
