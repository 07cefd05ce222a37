package main

import (
	"fmt"
	"slices"
	"strings"
)

// The requests of the USP operations, built from the command line as
// `cuttle device` and `cuttle job create` take it, for the API's bodies.

// getRequest is a Get of paths, maxDepth levels deep (0: all the way).
func getRequest(paths []string, maxDepth int) map[string]any {
	r := map[string]any{"paths": paths}
	if maxDepth > 0 {
		r["max_depth"] = maxDepth
	}
	return r
}

// setRequest is a Set of PATH=VALUE arguments, grouped by object.
func setRequest(args []string, partial, required bool) (map[string]any, error) {
	objs, err := groupSet(args, required)
	if err != nil {
		return nil, err
	}
	return map[string]any{"allow_partial": partial, "objects": objs}, nil
}

// addRequest is an Add of an instance of the table obj with NAME=VALUE
// arguments.
func addRequest(obj string, args []string, required bool) (map[string]any, error) {
	params, err := paramAssignments(args)
	if err != nil {
		return nil, err
	}
	o := setObject{Path: obj, Params: params}
	if required {
		o.Required = sortedPaths(params)
	}
	return map[string]any{"objects": []setObject{o}}, nil
}

// deleteRequest is a Delete of paths.
func deleteRequest(paths []string, partial bool) map[string]any {
	return map[string]any{"allow_partial": partial, "paths": paths}
}

// operateRequest is an Operate of command with NAME=VALUE input
// arguments, and key as its command key unless empty.
func operateRequest(command string, args []string, key string) (map[string]any, error) {
	inputs, err := paramAssignments(args)
	if err != nil {
		return nil, err
	}
	r := map[string]any{"command": command, "input_args": inputs}
	if key != "" {
		r["command_key"] = key
	}
	return r, nil
}

// instancesRequest is a GetInstances of paths.
func instancesRequest(paths []string, firstLevel bool) map[string]any {
	return map[string]any{"paths": paths, "first_level_only": firstLevel}
}

// setObject is an object of a Set or an Add request.
type setObject struct {
	Path     string            `json:"path"`
	Params   map[string]string `json:"params,omitempty"`
	Required []string          `json:"required,omitempty"`
}

// splitPathAssignment splits "PATH=VALUE" at the first '=' outside a
// search expression's brackets (Device.WiFi.SSID.[Alias=="a"].SSID=b).
func splitPathAssignment(s string) (path, value string, ok bool) {
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' && depth > 0:
			quoted = !quoted
		case quoted:
		case c == '[':
			depth++
		case c == ']' && depth > 0:
			depth--
		case c == '=' && depth == 0:
			return s[:i], s[i+1:], i > 0
		}
	}
	return "", "", false
}

// groupSet turns PATH=VALUE arguments into Set objects, one per object
// path, in the order the objects first appear.
func groupSet(args []string, required bool) ([]setObject, error) {
	var objs []setObject
	index := map[string]int{}
	for _, a := range args {
		p, v, ok := splitPathAssignment(a)
		dot := strings.LastIndexByte(p, '.')
		if !ok || dot <= 0 || dot == len(p)-1 || strings.HasSuffix(p, ")") {
			return nil, fmt.Errorf("%q: want PARAMETER-PATH=VALUE, such as Device.WiFi.SSID.1.SSID=home", a)
		}
		obj, name := p[:dot+1], p[dot+1:]
		i, seen := index[obj]
		if !seen {
			i = len(objs)
			index[obj] = i
			objs = append(objs, setObject{Path: obj, Params: map[string]string{}})
		}
		if _, dup := objs[i].Params[name]; dup {
			return nil, fmt.Errorf("%s is given twice", p)
		}
		objs[i].Params[name] = v
		if required {
			objs[i].Required = append(objs[i].Required, name)
		}
	}
	for i := range objs {
		slices.Sort(objs[i].Required)
	}
	return objs, nil
}

// splitAssignment splits "NAME=VALUE"; ok is false without '=' or a name.
func splitAssignment(s string) (name, value string, ok bool) {
	name, value, ok = strings.Cut(s, "=")
	return name, value, ok && name != ""
}

// paramAssignments parses NAME=VALUE arguments into a map, refusing
// repeated names.
func paramAssignments(args []string) (map[string]string, error) {
	params := map[string]string{}
	for _, a := range args {
		k, v, ok := splitAssignment(a)
		if !ok {
			return nil, fmt.Errorf("%q: want NAME=VALUE", a)
		}
		if _, dup := params[k]; dup {
			return nil, fmt.Errorf("%q is given twice", k)
		}
		params[k] = v
	}
	return params, nil
}
