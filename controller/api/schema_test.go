package api_test

import (
	"encoding/json"
	"fmt"
	"mime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"cuttle/controller/api"
)

// Every JSON response a test receives is checked against openapi.json:
// the status must be documented for the operation, and the body must fit
// the documented schema. So every test is also a test of the document.
// The checker understands the parts of JSON Schema the document uses:
// $ref, oneOf, type, properties, required, additionalProperties, items and
// enum.

var openAPIDoc = sync.OnceValue(func() map[string]any {
	var doc map[string]any
	if err := json.Unmarshal(api.OpenAPI(), &doc); err != nil {
		panic(err)
	}
	return doc
})

// checkResponse returns what is wrong with r as an answer to method path,
// or "" when nothing is, or when the document does not describe the route
// (mounted test routes, unknown paths).
func checkResponse(method, path string, r response) string {
	doc := openAPIDoc()
	path, _, _ = strings.Cut(path, "?")
	op := findOperation(doc, strings.ToLower(method), path)
	if op == nil {
		return ""
	}
	responses := op["responses"].(map[string]any)
	resp, ok := responses[strconv.Itoa(r.status)].(map[string]any)
	if !ok {
		return fmt.Sprintf("status %d is not documented", r.status)
	}
	resp = deref(doc, resp)
	ct, _, _ := mime.ParseMediaType(r.header.Get("Content-Type"))
	if ct != "application/json" && ct != "application/problem+json" {
		return ""
	}
	content, _ := resp["content"].(map[string]any)
	media, ok := content[ct].(map[string]any)
	if !ok {
		return fmt.Sprintf("status %d is documented without %s content", r.status, ct)
	}
	var body any
	if err := json.Unmarshal(r.body, &body); err != nil {
		return "body is not JSON: " + err.Error()
	}
	if errs := validate(doc, media["schema"], body, "body"); len(errs) > 0 {
		return "body does not fit the schema: " + strings.Join(errs, "; ")
	}
	return ""
}

// findOperation finds the operation for method and a concrete path,
// preferring templates with more literal segments.
func findOperation(doc map[string]any, method, path string) map[string]any {
	segs := strings.Split(path, "/")
	var best map[string]any
	bestLiterals := -1
	for tmpl, item := range doc["paths"].(map[string]any) {
		op, ok := item.(map[string]any)[method].(map[string]any)
		if !ok {
			continue
		}
		tsegs := strings.Split(tmpl, "/")
		if len(tsegs) != len(segs) {
			continue
		}
		literals, match := 0, true
		for i, ts := range tsegs {
			switch {
			case strings.HasPrefix(ts, "{"):
			case ts == segs[i]:
				literals++
			default:
				match = false
			}
		}
		if match && literals > bestLiterals {
			best, bestLiterals = op, literals
		}
	}
	return best
}

// deref follows a $ref.
func deref(doc map[string]any, node map[string]any) map[string]any {
	for {
		ref, ok := node["$ref"].(string)
		if !ok {
			return node
		}
		var cur any = doc
		for part := range strings.SplitSeq(strings.TrimPrefix(ref, "#/"), "/") {
			cur = cur.(map[string]any)[part]
		}
		node = cur.(map[string]any)
	}
}

// validate checks v against schema and returns the failures, each naming
// where in the body it is.
func validate(doc map[string]any, schema any, v any, at string) []string {
	s := deref(doc, schema.(map[string]any))
	if alts, ok := s["oneOf"].([]any); ok {
		n := 0
		var why []string
		for _, alt := range alts {
			errs := validate(doc, alt, v, at)
			if len(errs) == 0 {
				n++
			}
			why = append(why, errs...)
		}
		if n != 1 {
			return []string{fmt.Sprintf("%s matches %d of oneOf (%s)", at, n, strings.Join(why, ", "))}
		}
		return nil
	}
	if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, v) {
		return []string{fmt.Sprintf("%s: %v is not in %v", at, v, enum)}
	}
	typ, _ := s["type"].(string)
	switch x := v.(type) {
	case nil:
		if typ != "null" {
			return []string{at + " is null"}
		}
	case bool:
		if typ != "boolean" {
			return []string{at + " is a boolean, want " + typ}
		}
	case float64:
		if typ != "number" && !(typ == "integer" && x == float64(int64(x))) {
			return []string{fmt.Sprintf("%s is the number %v, want %s", at, x, typ)}
		}
	case string:
		if typ != "string" {
			return []string{at + " is a string, want " + typ}
		}
	case []any:
		if typ != "array" {
			return []string{at + " is an array, want " + typ}
		}
		var errs []string
		for i, item := range x {
			errs = append(errs, validate(doc, s["items"], item, fmt.Sprintf("%s[%d]", at, i))...)
		}
		return errs
	case map[string]any:
		if typ != "object" {
			return []string{at + " is an object, want " + typ}
		}
		var errs []string
		props, _ := s["properties"].(map[string]any)
		required, _ := s["required"].([]any)
		for _, req := range required {
			if _, ok := x[req.(string)]; !ok {
				errs = append(errs, fmt.Sprintf("%s lacks %q", at, req))
			}
		}
		for k, val := range x {
			if p, ok := props[k]; ok {
				errs = append(errs, validate(doc, p, val, at+"."+k)...)
				continue
			}
			switch extra := s["additionalProperties"].(type) {
			case bool:
				if !extra {
					errs = append(errs, fmt.Sprintf("%s has the undocumented member %q", at, k))
				}
			case map[string]any:
				errs = append(errs, validate(doc, extra, val, at+"."+k)...)
			}
		}
		return errs
	}
	return nil
}
