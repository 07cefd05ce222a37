package jobs

import (
	"crypto/rand"
	"encoding/json"
	"time"
)

// Job states. See the package documentation for what each means.
const (
	StatePending   = "pending"
	StateRunning   = "running"
	StateCompleted = "completed"
	StateFailed    = "failed"
	StateCanceled  = "canceled"
)

// States lists the job states.
var States = []string{StatePending, StateRunning, StateCompleted, StateFailed, StateCanceled}

// Result statuses, per device.
const (
	// StatusOK: the device answered, and its answer carries no failure.
	StatusOK = "ok"
	// StatusUSPError: the device answered with a USP Error, or with a
	// response in which some path, object or command failed (Response
	// holds it; Error is the first failure).
	StatusUSPError = "usp_error"
	// StatusBadResponse: the device's answer was of the wrong type or
	// could not be decoded.
	StatusBadResponse = "bad_response"
	// StatusTimeout: no answer before Spec.Timeout from a device the
	// inventory shows online. The request may have been carried out.
	StatusTimeout = "timeout"
	// StatusUnreachable: no answer, and the device is offline, or the
	// controller had no broker connection.
	StatusUnreachable = "unreachable"
	// StatusCanceled: the job was canceled before the device answered.
	StatusCanceled = "canceled"
	// StatusSkipped: OnlineOnly, and the device was offline (or unknown to
	// the inventory) when its turn came; nothing was sent.
	StatusSkipped = "skipped"
	// StatusError: anything else went wrong on the controller's side.
	StatusError = "error"
)

// Statuses lists the result statuses.
var Statuses = []string{StatusOK, StatusUSPError, StatusBadResponse, StatusTimeout, StatusUnreachable, StatusCanceled, StatusSkipped, StatusError}

// Job is a bulk job and its progress.
type Job struct {
	ID   string `json:"id"`
	Spec Spec   `json:"spec"`
	// State is one of States.
	State string `json:"state"`
	// CancelRequested is set by Cancel; the runner then ends the job as
	// canceled.
	CancelRequested bool   `json:"cancel_requested,omitempty"`
	CreatedBy       string `json:"created_by,omitempty"`
	// Error says why a job failed as a whole (not per device).
	Error    string    `json:"error,omitempty"`
	Created  time.Time `json:"created"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	// Total is the number of devices; Done of them have a result:
	// Succeeded (ok), Failed (usp_error, bad_response, error) and
	// NotReached (no answer: timeout, unreachable, canceled, skipped).
	Total      int `json:"total"`
	Done       int `json:"done"`
	Succeeded  int `json:"succeeded"`
	Failed     int `json:"failed"`
	NotReached int `json:"not_reached"`
	// Counts are the results by status.
	Counts map[string]int `json:"counts"`
	// Runner is the replica running the job, while it runs.
	Runner string `json:"runner,omitempty"`
}

// Final reports whether the job has ended.
func (j *Job) Final() bool {
	return j.State == StateCompleted || j.State == StateFailed || j.State == StateCanceled
}

// count adds one result of the given status to the counters.
func (j *Job) count(status string) {
	if j.Counts == nil {
		j.Counts = map[string]int{}
	}
	j.Counts[status]++
	j.Done++
	switch status {
	case StatusOK:
		j.Succeeded++
	case StatusUSPError, StatusBadResponse, StatusError:
		j.Failed++
	default:
		j.NotReached++
	}
}

// Result is one device's outcome in a job.
type Result struct {
	EndpointID string `json:"endpoint_id"`
	// Status is one of Statuses.
	Status string `json:"status"`
	// Error is set for every status but ok.
	Error *ErrorInfo `json:"error,omitempty"`
	// Response is the device's answer in the per-device API's JSON form
	// (for a get: {"results": [...], "values": {path: value}}); null when
	// it did not answer or answered with a USP Error.
	Response json.RawMessage `json:"response,omitempty"`
	// Truncated: the response was larger than Config.MaxResultBytes and
	// was not kept.
	Truncated bool      `json:"truncated,omitempty"`
	Started   time.Time `json:"started,omitzero"`
	Finished  time.Time `json:"finished"`
}

// ErrorInfo describes why a device's result is not ok. Code, Name and
// ParamErrors are set for USP failures.
type ErrorInfo struct {
	Code        uint32     `json:"code,omitempty"`
	Name        string     `json:"name,omitempty"`
	Message     string     `json:"message"`
	Path        string     `json:"path,omitempty"`
	ParamErrors []USPError `json:"param_errors,omitempty"`
}

// idAlphabet is base32hex in lower case: its characters sort in the order
// of their values, so IDs sort by creation time.
const idAlphabet = "0123456789abcdefghijklmnopqrstuv"

// idLen is the length of a job ID: 9 characters of milliseconds since 1970
// (enough until the year 3084) and 8 random ones.
const idLen = 17

// newID returns a new job ID, such as "01jc5n3k0f2q9xa7d". IDs are single
// NATS subject tokens and sort by creation time.
func newID(now time.Time) string {
	var b [idLen]byte
	ms := uint64(now.UnixMilli())
	for i := 8; i >= 0; i-- {
		b[i] = idAlphabet[ms&31]
		ms >>= 5
	}
	var r [8]byte
	_, _ = rand.Read(r[:]) // never fails (Go 1.24+)
	for i, c := range r {
		b[9+i] = idAlphabet[c&31]
	}
	return string(b[:])
}

// validID reports whether s can be a job ID; anything else cannot name a
// job, and must not reach a KV key or a subject filter.
func validID(s string) bool {
	if len(s) != idLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'v') {
			return false
		}
	}
	return true
}
