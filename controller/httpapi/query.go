package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"cuttle/controller/uspjson"
)

// Query checks that r's query string holds only the allowed parameters,
// each at most once unless listed in repeatable, and returns it. A typo in
// a filter must not silently widen a result.
func Query(r *http.Request, allowed []string, repeatable ...string) (url.Values, error) {
	q := r.URL.Query()
	var bad []uspjson.FieldError
	for k, vs := range q {
		switch {
		case !slices.Contains(allowed, k):
			bad = append(bad, uspjson.FieldError{Field: k, Message: "unknown query parameter (allowed: " + strings.Join(allowed, ", ") + ")"})
		case len(vs) > 1 && !slices.Contains(repeatable, k):
			bad = append(bad, uspjson.FieldError{Field: k, Message: "given more than once"})
		}
	}
	if len(bad) > 0 {
		slices.SortFunc(bad, func(a, b uspjson.FieldError) int { return strings.Compare(a.Field, b.Field) })
		return nil, Invalid(bad...)
	}
	return q, nil
}

// IntParam parses an optional non-negative integer query parameter; 0
// when it is absent.
func IntParam(q url.Values, name string) (int, error) {
	s := q.Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, Invalid(uspjson.FieldError{Field: name, Message: fmt.Sprintf("%q is not a non-negative integer", s)})
	}
	return n, nil
}

// ListParam gathers a parameter given repeatedly or comma-separated.
func ListParam(q url.Values, name string) []string {
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
