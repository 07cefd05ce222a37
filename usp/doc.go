// Package usp is Cuttle's transport-free USP (TR-369) library and the single
// place where USP Records and Msgs are encoded and decoded.
//
// A USP message travels as a Msg (package cuttle/proto/uspmsg) serialized
// inside a Record (package cuttle/proto/usprecord). This package turns both
// into plain Go values and back:
//
//   - Records: [ParseRecord] and [PeekRecord] read them (Peek only the header,
//     for the broker's hot path); [NewMsgRecord], [NewMQTTConnectRecord] and
//     [NewDisconnectRecord] build them.
//   - Messages: every request, response, Notify and Error has a Go type
//     implementing [Body]; [NewMsg] encodes one and [ParseMsg] decodes any Msg
//     into a [Message] whose Body is one of those types.
//   - Errors: USP error codes and the typed error live in package
//     cuttle/usp/usperr; path names live in cuttle/usp/path.
//   - msg_id values come from [IDGen], unique across restarts and processes.
package usp
