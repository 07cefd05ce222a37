package api

import (
	"cuttle/controller/auth"
	"cuttle/controller/uspjson"
)

// apiRoute is one entry of the route table.
type apiRoute struct {
	pattern string
	action  auth.Action
	handle  HandlerFunc
}

// apiRoutes is the table of the authenticated routes, the one place they
// are listed. Viewers read, including the USP requests that only read a
// device; operators also change devices; admins also manage credentials,
// tokens and the audit log (and delete devices with revoke=true, which
// deleteDevice checks).
func (a *API) apiRoutes() []apiRoute {
	return []apiRoute{
		{"GET /api/v1/whoami", auth.ActionRead, a.whoami},

		{"GET /api/v1/devices", auth.ActionRead, a.listDevices},
		{"GET /api/v1/devices/{id}", auth.ActionRead, a.getDevice},
		{"PATCH /api/v1/devices/{id}/labels", auth.ActionManageDevices, a.patchLabels},
		{"DELETE /api/v1/devices/{id}", auth.ActionManageDevices, a.deleteDevice},
		{"GET /api/v1/stats", auth.ActionRead, a.stats},
		{"GET /api/v1/stats/stream", auth.ActionRead, a.streamStats},

		{"POST /api/v1/devices/{id}/get", auth.ActionRead, uspRoute[uspjson.GetRequest](a, "get")},
		{"POST /api/v1/devices/{id}/instances", auth.ActionRead, uspRoute[uspjson.InstancesRequest](a, "instances")},
		{"POST /api/v1/devices/{id}/supported-dm", auth.ActionRead, uspRoute[uspjson.SupportedDMRequest](a, "supported-dm")},
		{"POST /api/v1/devices/{id}/supported-protocol", auth.ActionRead, uspRoute[uspjson.SupportedProtocolRequest](a, "supported-protocol")},
		{"POST /api/v1/devices/{id}/set", auth.ActionOperate, uspRoute[uspjson.SetRequest](a, "set")},
		{"POST /api/v1/devices/{id}/add", auth.ActionOperate, uspRoute[uspjson.AddRequest](a, "add")},
		{"POST /api/v1/devices/{id}/delete", auth.ActionOperate, uspRoute[uspjson.DeleteRequest](a, "delete")},
		{"POST /api/v1/devices/{id}/operate", auth.ActionOperate, a.uspOperate},

		{"GET /api/v1/events", auth.ActionRead, a.queryEvents},
		{"GET /api/v1/events/stream", auth.ActionRead, a.streamEvents},

		{"GET /api/v1/traffic", auth.ActionRead, a.queryTraffic},
		{"GET /api/v1/traffic/stream", auth.ActionRead, a.streamTraffic},

		{"POST /api/v1/credentials", auth.ActionAdmin, a.createCredential},
		{"GET /api/v1/credentials", auth.ActionAdmin, a.listCredentials},
		{"POST /api/v1/credentials/{username}/disable", auth.ActionAdmin, a.disableCredential},
		{"POST /api/v1/credentials/{username}/enable", auth.ActionAdmin, a.enableCredential},
		{"DELETE /api/v1/credentials/{username}", auth.ActionAdmin, a.deleteCredential},
		{"POST /api/v1/credentials/{username}/rotate", auth.ActionAdmin, a.rotateCredential},
		{"POST /api/v1/credentials/revoke-cert", auth.ActionAdmin, a.revokeCert},
		{"POST /api/v1/credentials/unrevoke-cert", auth.ActionAdmin, a.unrevokeCert},
		{"GET /api/v1/credentials/revoked", auth.ActionAdmin, a.listRevoked},

		{"POST /api/v1/tokens", auth.ActionAdmin, a.createToken},
		{"GET /api/v1/tokens", auth.ActionAdmin, a.listTokens},
		{"DELETE /api/v1/tokens/{id}", auth.ActionAdmin, a.revokeToken},
		{"GET /api/v1/audit", auth.ActionAdmin, a.auditLog},
	}
}

// publicRoutes need no token: probes, and the API's own description.
func (a *API) publicRoutes() []apiRoute {
	return []apiRoute{
		{pattern: "GET /healthz", handle: a.healthz},
		{pattern: "GET /readyz", handle: a.readyz},
		{pattern: "GET /api/v1/openapi.json", handle: a.openAPI},
	}
}
