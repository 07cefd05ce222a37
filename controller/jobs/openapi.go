package jobs

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

// OpenAPI is an OpenAPI 3.1 fragment describing the job routes: "paths"
// and the "components" they refer to (parameters, responses, schemas, all
// named Job*). MergeOpenAPI adds it to the API's document.
//
//go:embed openapi.json
var OpenAPI []byte

// MergeOpenAPI adds the job routes' paths and components to doc, a
// decoded OpenAPI document. A path or component doc already has is an
// error: the fragment's names must not silently replace the API's.
func MergeOpenAPI(doc map[string]any) error {
	var frag map[string]any
	if err := json.Unmarshal(OpenAPI, &frag); err != nil {
		return fmt.Errorf("jobs: decoding the OpenAPI fragment: %w", err)
	}
	if err := mergeInto(doc, "paths", frag["paths"].(map[string]any)); err != nil {
		return err
	}
	comps, _ := doc["components"].(map[string]any)
	if comps == nil {
		comps = map[string]any{}
		doc["components"] = comps
	}
	for kind, v := range frag["components"].(map[string]any) {
		if err := mergeInto(comps, kind, v.(map[string]any)); err != nil {
			return err
		}
	}
	return nil
}

// mergeInto adds add's members to the object doc[key], creating it.
func mergeInto(doc map[string]any, key string, add map[string]any) error {
	dst, _ := doc[key].(map[string]any)
	if dst == nil {
		dst = map[string]any{}
		doc[key] = dst
	}
	for k, v := range add {
		if _, dup := dst[k]; dup {
			return fmt.Errorf("jobs: OpenAPI %s %q is already in the document", key, k)
		}
		dst[k] = v
	}
	return nil
}
