package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxBodyBytes bounds request bodies; a larger one gets a 413 problem.
const MaxBodyBytes = 1 << 20

// DecodeJSON reads r's JSON body into v. An empty body leaves v as it is,
// so handlers validate required fields themselves. A body must be
// application/json (415 otherwise), at most MaxBodyBytes (413), one JSON
// value with no unknown fields (400 naming the field).
func DecodeJSON(r *http.Request, v any) error {
	if r.Body == nil {
		return nil
	}
	br := bufio.NewReader(r.Body)
	if _, err := br.Peek(1); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err // a *http.MaxBytesError cannot happen on one byte; a broken connection can
	}
	if err := checkJSONType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	dec := json.NewDecoder(br)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return BadRequest("The body must hold a single JSON value, with nothing after it.")
	}
	return nil
}

// checkJSONType accepts application/json and application/*+json, with
// parameters such as charset.
func checkJSONType(ct string) error {
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return nil
	}
	if ct == "" {
		ct = "none"
	}
	return &Error{Status: http.StatusUnsupportedMediaType, Type: TypeUnsupportedMediaType, Title: "Unsupported media type",
		Detail: fmt.Sprintf("The body must be JSON with Content-Type application/json, not %s.", ct)}
}

// decodeError turns encoding/json's errors into problems that name the
// field at fault.
func decodeError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return err
	case errors.As(err, &syntax):
		return BadRequest("The body is not valid JSON: %v (at byte %d).", syntax, syntax.Offset)
	case errors.As(err, &typ):
		want := jsonKind(typ.Type.Kind().String())
		if typ.Type == reflect.TypeFor[Duration]() {
			want = `a duration such as "90s" or a number of seconds`
		}
		if typ.Field == "" {
			return BadRequest("The body must be %s, not %s.", want, typ.Value)
		}
		return Invalid(FieldError{Field: typ.Field, Message: fmt.Sprintf("must be %s, not %s", want, typ.Value)})
	case errors.Is(err, io.ErrUnexpectedEOF):
		return BadRequest("The body is truncated JSON.")
	}
	// encoding/json reports unknown fields only in its message.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if unq, uerr := strconv.Unquote(name); uerr == nil {
			name = unq
		}
		return Invalid(FieldError{Field: name, Message: "unknown field"})
	}
	return BadRequest("The body could not be decoded: %v.", err)
}

// jsonKind names a Go kind as a JSON type, for messages.
func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	}
	return "a " + k
}

// WriteJSON sends v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding response: %w", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err = w.Write(append(body, '\n'))
	return err // the client went away; the log says so
}

// query checks that r's query string holds only the allowed parameters,
// each at most once unless listed in repeatable, and returns it. A typo in
// a filter must not silently widen a result.
func query(r *http.Request, allowed []string, repeatable ...string) (url.Values, error) {
	q := r.URL.Query()
	var bad []FieldError
	for k, vs := range q {
		switch {
		case !slices.Contains(allowed, k):
			bad = append(bad, FieldError{Field: k, Message: "unknown query parameter (allowed: " + strings.Join(allowed, ", ") + ")"})
		case len(vs) > 1 && !slices.Contains(repeatable, k):
			bad = append(bad, FieldError{Field: k, Message: "given more than once"})
		}
	}
	if len(bad) > 0 {
		slices.SortFunc(bad, func(a, b FieldError) int { return strings.Compare(a.Field, b.Field) })
		return nil, Invalid(bad...)
	}
	return q, nil
}

// intParam parses an optional non-negative integer query parameter.
func intParam(q url.Values, name string) (int, error) {
	s := q.Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, Invalid(FieldError{Field: name, Message: fmt.Sprintf("%q is not a non-negative integer", s)})
	}
	return n, nil
}

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

// listParam gathers a parameter given repeatedly or comma-separated.
func listParam(q url.Values, name string) []string {
	var out []string
	for _, v := range q[name] {
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// Duration is a JSON duration: a string such as "90s" or "720h", or a
// number of seconds.
type Duration time.Duration

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	// Failures are *json.UnmarshalTypeError, which encoding/json completes
	// with the field's name, so the problem can name it.
	bad := &json.UnmarshalTypeError{Value: string(b), Type: reflect.TypeFor[Duration]()}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		if s == "" {
			*d = 0
			return nil
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return bad
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil || math.IsInf(secs*1e9, 0) || math.Abs(secs) > math.MaxInt64/1e9 {
		return bad
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}
