package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"cuttle/controller/httpapi"
	"cuttle/controller/uspjson"
)

// MaxBodyBytes bounds request bodies; a larger one gets a 413 problem.
const MaxBodyBytes = httpapi.MaxBodyBytes

// DecodeJSON reads r's JSON body into v. An empty body leaves v as it is,
// so handlers validate required fields themselves. A body must be
// application/json (415 otherwise), at most MaxBodyBytes (413), one JSON
// value with no unknown fields (400 naming the field).
func DecodeJSON(r *http.Request, v any) error { return httpapi.DecodeJSON(r, v) }

// WriteJSON sends v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	return httpapi.WriteJSON(w, status, v)
}

// nonNilSlice makes a nil list [] in JSON, not null.
func nonNilSlice[T any](s []T) []T { return uspjson.NonNilSlice(s) }

// The query parameters all routes parse alike.
var (
	query     = httpapi.Query
	intParam  = httpapi.IntParam
	listParam = httpapi.ListParam
)

// uintParam parses an optional event or audit ID.
func uintParam(q url.Values, name string) (uint64, error) {
	s := q.Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, Invalid(FieldError{Field: name, Message: fmt.Sprintf("%q is not a non-negative integer", s)})
	}
	return n, nil
}

// timeParam parses an optional point in time: an RFC 3339 timestamp, or a
// duration meaning that long ago ("15m").
func timeParam(q url.Values, name string, now time.Time) (time.Time, error) {
	s := q.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, Invalid(FieldError{Field: name, Message: fmt.Sprintf("%q is neither an RFC 3339 time nor a duration such as 15m", s)})
}

// Duration is a JSON duration: a string such as "90s" or "720h", or a
// number of seconds.
type Duration = uspjson.Duration
