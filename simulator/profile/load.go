package profile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads a profile from a YAML (.yaml, .yml) or JSON (.json) file and
// validates it. Unknown fields are errors, so that a typo does not silently
// fall back to a default.
func Load(file string) (*Profile, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("loading profile: %w", err)
	}
	var format string
	switch strings.ToLower(filepath.Ext(file)) {
	case ".yaml", ".yml":
		format = "yaml"
	case ".json":
		format = "json"
	default:
		return nil, fmt.Errorf("loading profile %s: unknown format: use a .yaml, .yml or .json file", file)
	}
	p, err := Parse(data, format)
	if err != nil {
		return nil, fmt.Errorf("loading profile %s: %w", file, err)
	}
	return p, nil
}

// Parse decodes and validates a profile; format is "yaml" or "json".
func Parse(data []byte, format string) (*Profile, error) {
	var p Profile
	switch format {
	case "json":
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("%w: data after the profile object", ErrInvalid)
		}
	case "yaml":
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&p); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%w: empty document", ErrInvalid)
			}
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	default:
		return nil, fmt.Errorf("unknown profile format %q", format)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}
