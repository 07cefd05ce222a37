package usp

import (
	"strings"

	"cuttle/proto/uspmsg"
)

// GetSupportedProtocol asks an agent which USP versions it speaks, telling it
// which the controller speaks.
type GetSupportedProtocol struct {
	Versions []string
}

// NewGetSupportedProtocol returns a GetSupportedProtocol advertising versions.
func NewGetSupportedProtocol(versions ...string) *GetSupportedProtocol {
	return &GetSupportedProtocol{Versions: versions}
}

// MsgType implements Body.
func (*GetSupportedProtocol) MsgType() MsgType { return uspmsg.Header_GET_SUPPORTED_PROTO }

func (g *GetSupportedProtocol) encode() *uspmsg.Body {
	return request(&uspmsg.Request{ReqType: &uspmsg.Request_GetSupportedProtocol{GetSupportedProtocol: &uspmsg.GetSupportedProtocol{
		ControllerSupportedProtocolVersions: joinCSV(g.Versions),
	}}})
}

func decodeGetSupportedProtocol(g *uspmsg.GetSupportedProtocol) *GetSupportedProtocol {
	return &GetSupportedProtocol{Versions: splitCSV(g.GetControllerSupportedProtocolVersions())}
}

// GetSupportedProtocolResp lists the USP versions an agent speaks.
type GetSupportedProtocolResp struct {
	Versions []string
}

// MsgType implements Body.
func (*GetSupportedProtocolResp) MsgType() MsgType { return uspmsg.Header_GET_SUPPORTED_PROTO_RESP }

func (g *GetSupportedProtocolResp) encode() *uspmsg.Body {
	return response(&uspmsg.Response{RespType: &uspmsg.Response_GetSupportedProtocolResp{GetSupportedProtocolResp: &uspmsg.GetSupportedProtocolResp{
		AgentSupportedProtocolVersions: joinCSV(g.Versions),
	}}})
}

// splitCSV splits a TR-106 comma-separated list, trimming spaces around
// items; "" gives nil.
func splitCSV(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return parts
}

func joinCSV(items []string) string { return strings.Join(items, ",") }
