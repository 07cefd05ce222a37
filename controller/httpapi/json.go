package httpapi

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"cuttle/controller/uspjson"
)

// MaxBodyBytes bounds request bodies; a larger one gets a 413 problem.
const MaxBodyBytes = 1 << 20

// DecodeJSON reads r's JSON body into v. An empty body leaves v as it is,
// so handlers validate required fields themselves. A body must be
// application/json (415 otherwise), one JSON value with no unknown fields
// (400 naming the field). A body over the limit of an
// http.MaxBytesReader fails with its *http.MaxBytesError.
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
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return err
	case errors.As(err, &syntax):
		return BadRequest("The body is not valid JSON: %v (at byte %d).", syntax, syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return BadRequest("The body is truncated JSON.")
	}
	if f, ok := uspjson.FieldOf(err); ok {
		if f.Field == "" {
			return BadRequest("The body %s.", f.Message)
		}
		return Invalid(f)
	}
	return BadRequest("The body could not be decoded: %v.", err)
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
