package uspjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// FieldOf is the field error of a failure of encoding/json to decode a
// request: a value of the wrong type, or an unknown field (for a decoder
// that disallows them). Field is "" when the whole value has the wrong
// type. It returns false for other failures, such as bad syntax.
func FieldOf(err error) (FieldError, bool) {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		want := jsonKind(typ.Type.Kind().String())
		if typ.Type == reflect.TypeFor[Duration]() {
			want = `a duration such as "90s" or a number of seconds`
		}
		return FieldError{Field: typ.Field, Message: fmt.Sprintf("must be %s, not %s", want, typ.Value)}, true
	}
	// encoding/json reports unknown fields only in its message.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if unq, uerr := strconv.Unquote(name); uerr == nil {
			name = unq
		}
		return FieldError{Field: name, Message: "unknown field"}, true
	}
	return FieldError{}, false
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
