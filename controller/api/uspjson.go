package api

import (
	"cuttle/controller/uspjson"
)

// The JSON forms of USP responses live in controller/uspjson, shared with
// bulk jobs; these names keep the handlers short.
type (
	uspError                  = uspjson.Error
	supportedProtocolResponse = uspjson.SupportedProtocolResponse
)

var (
	uspErr          = uspjson.FromError
	nonNilMap       = uspjson.NonNilMap
	getJSON         = uspjson.Get
	setJSON         = uspjson.Set
	addJSON         = uspjson.Add
	deleteJSON      = uspjson.Delete
	instancesJSON   = uspjson.Instances
	supportedDMJSON = uspjson.SupportedDM
)

func nonNilSlice[T any](s []T) []T { return uspjson.NonNilSlice(s) }
