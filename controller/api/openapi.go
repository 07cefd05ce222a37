package api

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// openAPIDoc is the OpenAPI 3.1 description of the API, written by hand
// next to the code and checked against the routes by CheckOpenAPI.
//
//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns openapi.json, the description of the API's own routes.
func OpenAPI() []byte { return slices.Clone(openAPIDoc) }

// OpenAPI returns the document served at /api/v1/openapi.json: openapi.json
// and what ExtendOpenAPI added.
func (a *API) OpenAPI() []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.doc
}

func (a *API) openAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, err := w.Write(a.OpenAPI())
	return err
}

// openAPIMethods are the operation keys of an OpenAPI path item.
var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// CheckOpenAPI compares the routes (Routes) with the OpenAPI document and
// lists every difference: routes it does not describe, operations no route
// serves, and operations whose x-cuttle-action (the permission, "public"
// for none) is not the route's. Whoever mounts routes calls it in a test
// after mounting.
func (a *API) CheckOpenAPI() error {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(a.OpenAPI(), &doc); err != nil {
		return fmt.Errorf("openapi.json: %w", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		return fmt.Errorf("openapi.json: version %q, want 3.1.x", doc.OpenAPI)
	}
	documented := map[string]string{} // "METHOD /path" → action
	var problems []string
	for p, item := range doc.Paths {
		for m, raw := range item {
			if !slices.Contains(openAPIMethods, m) {
				continue
			}
			var op struct {
				Action string `json:"x-cuttle-action"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				problems = append(problems, fmt.Sprintf("openapi.json: %s %s: %v", m, p, err))
			}
			documented[strings.ToUpper(m)+" "+p] = op.Action
		}
	}
	served := map[string]string{}
	for _, r := range a.Routes() {
		action := string(r.Action)
		if action == "" {
			action = "public"
		}
		served[r.Method+" "+r.Path] = action
	}
	for k, action := range served {
		doc, ok := documented[k]
		switch {
		case !ok:
			problems = append(problems, "route not in openapi.json: "+k)
		case doc != action:
			problems = append(problems, fmt.Sprintf("openapi.json: %s has x-cuttle-action %q, the route needs %q", k, doc, action))
		}
	}
	for k := range documented {
		if _, ok := served[k]; !ok {
			problems = append(problems, "openapi.json describes a route that does not exist: "+k)
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}
