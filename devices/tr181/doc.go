// Package tr181 describes the part of the Broadband Forum's TR-181 Device:2
// data model (Device:2.19) that Cuttle supports: which objects exist (in
// supported-data-model form, with "{i}" for instances), whether they are
// tables and who may add or delete their rows, their unique keys, and their
// parameters (type, access, value-change mode, default and validation
// rules), commands and events.
//
// The model is a schema only. It holds no values and no behaviour, so the
// simulator (one copy shared by every simulated device) and the controller
// (to validate requests and render GetSupportedDM answers) can both use it.
//
// [Device] returns the supported model; [NewModel] builds other models from
// definitions written with the helpers in build.go ([Obj], [Table], [String],
// [Bool], [SyncCmd], [Evt] and friends).
package tr181
