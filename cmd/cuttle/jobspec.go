package main

import (
	"errors"
	"fmt"
	"strings"
)

// The spec of `cuttle job create`: the devices (--selector) and the
// request, written as for `cuttle device`.

// parseSelector reads "status=online,model=X,site=north,tier!=gold": the
// inventory fields status, model, manufacturer, software_version and q take
// key=value terms; every other term is a label selector term.
func parseSelector(s string) (map[string]string, error) {
	sel := map[string]string{}
	var labels []string
	for term := range strings.SplitSeq(s, ",") {
		term = strings.TrimSpace(term)
		if term == "" {
			continue
		}
		key := term
		if i := strings.IndexAny(term, "!="); i >= 0 {
			key = term[:i]
		}
		field := strings.ReplaceAll(strings.TrimSpace(key), "-", "_")
		switch field {
		case "status", "model", "manufacturer", "software_version", "q":
			v, ok := strings.CutPrefix(term[len(key):], "=")
			if !ok || strings.HasPrefix(v, "=") {
				return nil, fmt.Errorf("%q: the inventory field %s takes %s=VALUE", term, field, field)
			}
			if _, dup := sel[field]; dup {
				return nil, fmt.Errorf("%s is given twice", field)
			}
			sel[field] = v
		default:
			labels = append(labels, term)
		}
	}
	if len(labels) > 0 {
		sel["labels"] = strings.Join(labels, ",")
	}
	if len(sel) == 0 {
		return nil, errors.New("an empty selector; use --all-devices to choose every device")
	}
	return sel, nil
}

// jobRequestFlags are the request options of `job create`.
type jobRequestFlags struct {
	maxDepth         int
	partial, require bool
	key              string
	firstLevel       bool
}

// jobRequest builds the request of a job's operation from --paths and the
// positional arguments.
func jobRequest(op string, flagPaths, pos []string, f jobRequestFlags) (map[string]any, error) {
	need := func(n int, what string) error {
		switch {
		case len(flagPaths) > 0:
			return errors.New("--paths is for get, delete and instances")
		case len(pos) < n:
			return fmt.Errorf("%s needs %s", op, what)
		}
		return nil
	}
	paths := append(flagPaths, pos...)
	switch op {
	case "get", "delete", "instances":
		if len(paths) == 0 {
			return nil, fmt.Errorf("%s needs paths (arguments or --paths)", op)
		}
		switch op {
		case "get":
			return getRequest(paths, f.maxDepth), nil
		case "delete":
			return deleteRequest(paths, f.partial), nil
		}
		return instancesRequest(paths, f.firstLevel), nil
	case "set":
		if err := need(1, "PATH=VALUE arguments"); err != nil {
			return nil, err
		}
		return setRequest(pos, f.partial, f.require)
	case "add":
		if err := need(1, "an OBJPATH argument"); err != nil {
			return nil, err
		}
		return addRequest(pos[0], pos[1:], f.require)
	case "operate":
		if err := need(1, "a COMMAND argument"); err != nil {
			return nil, err
		}
		return operateRequest(pos[0], pos[1:], f.key)
	case "supported-protocol":
		if len(paths) > 0 {
			return nil, errors.New("supported-protocol takes no arguments")
		}
		return map[string]any{}, nil
	case "":
		return nil, errors.New("--op is required")
	}
	return nil, fmt.Errorf("--op %q: want one of %s", op, strings.Join(jobOperations, ", "))
}
