package tr181

import (
	"errors"
	"fmt"
	"strings"

	"cuttle/usp"
	"cuttle/usp/path"
)

// DataModelURI names the data model this package describes, as reported in
// GetSupportedDMResp.data_model_inst_uri.
const DataModelURI = "urn:broadband-forum-org:tr-181-2-19-1"

// Object is one supported object: a single-instance object such as
// "Device.DeviceInfo." or a table (multi-instance object) such as
// "Device.WiFi.SSID.{i}.".
type Object struct {
	// Path is the supported path, ending in "." and with "{i}" after each
	// table name, e.g. "Device.WiFi.AccessPoint.{i}.AssociatedDevice.{i}.".
	Path string
	// Name is the object's own name, e.g. "AssociatedDevice".
	Name string
	// MultiInstance reports whether the object is a table.
	MultiInstance bool
	// Access says whether a Controller may add or delete rows; always
	// ObjReadOnly for single-instance objects.
	Access usp.ObjAccess
	// UniqueKeys lists the table's unique key sets, each as parameter names.
	UniqueKeys [][]string
	Params     []*Param
	Commands   []*Command
	Events     []*Event

	// Parent is the enclosing object; nil for the root ("Device.").
	Parent *Object
	// Children are the objects directly below this one, in definition order.
	Children []*Object
	// Index is the object's position in Model.Objects.
	Index int
	// ChildIndex is the object's position in Parent.Children.
	ChildIndex int
	// CountParam is the parent's "<Name>NumberOfEntries" parameter counting
	// this table's rows, or nil.
	CountParam *Param
}

// Param describes one supported parameter.
type Param struct {
	Name        string
	Type        usp.ParamType
	Access      usp.ParamAccess
	ValueChange usp.ValueChangeMode
	// Default is the value a new instance starts with.
	Default string
	// Enum lists the allowed values of a string (of each item, for a list).
	Enum []string
	// Range bounds a numeric value (inclusive); nil means the type's range.
	Range *IntRange
	// MaxLen bounds a string's length in bytes; 0 means no limit.
	MaxLen int
	// Pattern constrains a string's form (of each item, for a list).
	Pattern Pattern
	// List marks a comma-separated list of values.
	List bool
	// Hidden marks a secret (a passphrase): it reads as "".
	Hidden bool
	// WriteOnce marks a writeOnceReadOnly parameter: it can be set at
	// creation or while it is still empty, then never again. It is reported
	// as read-write, as TR-369 says.
	WriteOnce bool
	// Index is the parameter's position in its object's Params, so that
	// instance values can live in a slice.
	Index int
}

// IntRange is an inclusive range of integers.
type IntRange struct{ Min, Max int64 }

// Writable reports whether a Controller may set the parameter.
func (p *Param) Writable() bool { return p.Access != usp.ParamReadOnly }

// Command describes one supported command, e.g. "Download()".
type Command struct {
	// Name includes the "()".
	Name    string
	Type    usp.CommandType
	Inputs  []Arg
	Outputs []string
}

// Arg is one input argument of a command.
type Arg struct {
	// Name is relative to the command and may use "{i}" for argument
	// tables, e.g. "TimeWindow.{i}.Start".
	Name string
	// Mandatory arguments must be present in an Operate (R-OPR.5).
	Mandatory bool
}

// InputNames returns the names of the command's input arguments.
func (c *Command) InputNames() []string {
	out := make([]string, len(c.Inputs))
	for i, a := range c.Inputs {
		out[i] = a.Name
	}
	return out
}

// Event describes one supported event, e.g. "Boot!".
type Event struct {
	// Name includes the "!".
	Name string
	Args []string
}

// Param returns the parameter called name, or nil.
func (o *Object) Param(name string) *Param {
	for _, p := range o.Params {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Command returns the command called name (with its "()"), or nil.
func (o *Object) Command(name string) *Command {
	for _, c := range o.Commands {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Event returns the event called name (with its "!"), or nil.
func (o *Object) Event(name string) *Event {
	for _, e := range o.Events {
		if e.Name == name {
			return e
		}
	}
	return nil
}

// Child returns the sub-object called name, or nil.
func (o *Object) Child(name string) *Object {
	for _, c := range o.Children {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// IsKey reports whether the parameter called name is part of a unique key.
func (o *Object) IsKey(name string) bool {
	for _, ks := range o.UniqueKeys {
		for _, k := range ks {
			if k == name {
				return true
			}
		}
	}
	return false
}

// KeyNames returns every parameter that is part of a unique key, each once,
// in the order of first appearance.
func (o *Object) KeyNames() []string {
	var out []string
	for _, ks := range o.UniqueKeys {
		for _, k := range ks {
			dup := false
			for _, seen := range out {
				dup = dup || seen == k
			}
			if !dup {
				out = append(out, k)
			}
		}
	}
	return out
}

// Model is a supported data model: a tree of objects under one root.
type Model struct {
	// URI is reported in GetSupportedDMResp.data_model_inst_uri.
	URI     string
	root    *Object
	objects []*Object
	byPath  map[string]*Object
}

// Root returns the root object ("Device.").
func (m *Model) Root() *Object { return m.root }

// Objects returns every object, parents before children, in definition
// order. The slice must not be modified.
func (m *Model) Objects() []*Object { return m.objects }

// Object returns the object with the given supported path, or nil. Both
// forms TR-369 allows for tables are accepted: "Device.WiFi.SSID.{i}." and
// "Device.WiFi.SSID." (the final "{i}." omitted).
func (m *Model) Object(supportedPath string) *Object {
	if o := m.byPath[supportedPath]; o != nil {
		return o
	}
	if o := m.byPath[supportedPath+"{i}."]; o != nil && o.MultiInstance {
		return o
	}
	return nil
}

// Lookup splits a supported parameter, command or event path and returns
// its object, e.g. "Device.WiFi.SSID.{i}.SSID" gives the SSID table and
// "SSID". It returns nil when the object does not exist.
func (m *Model) Lookup(supportedPath string) (*Object, string) {
	obj, name := path.SplitParam(supportedPath)
	return m.byPath[obj], name
}

// Param returns the object and parameter for a supported parameter path such
// as "Device.WiFi.SSID.{i}.SSID", or nils.
func (m *Model) Param(supportedPath string) (*Object, *Param) {
	o, name := m.Lookup(supportedPath)
	if o == nil {
		return nil, nil
	}
	p := o.Param(name)
	if p == nil {
		return nil, nil
	}
	return o, p
}

// Command returns the object and command for a supported command path such
// as "Device.DeviceInfo.FirmwareImage.{i}.Download()", or nils.
func (m *Model) Command(supportedPath string) (*Object, *Command) {
	o, name := m.Lookup(supportedPath)
	if o == nil {
		return nil, nil
	}
	c := o.Command(name)
	if c == nil {
		return nil, nil
	}
	return o, c
}

// Event returns the object and event for a supported event path such as
// "Device.Boot!", or nils.
func (m *Model) Event(supportedPath string) (*Object, *Event) {
	o, name := m.Lookup(supportedPath)
	if o == nil {
		return nil, nil
	}
	e := o.Event(name)
	if e == nil {
		return nil, nil
	}
	return o, e
}

// ErrInvalidModel is wrapped by NewModel's errors.
var ErrInvalidModel = errors.New("invalid data model definition")

// NewModel links object definitions into a Model. objs must contain the
// root first and every object after its parent; an object's parent is found
// from its path. Parameter, child and count-parameter indexes are filled in.
func NewModel(uri string, objs ...*Object) (*Model, error) {
	m := &Model{URI: uri, byPath: make(map[string]*Object, len(objs))}
	for i, o := range objs {
		if err := m.link(o); err != nil {
			return nil, fmt.Errorf("%w: object %d (%q): %w", ErrInvalidModel, i, o.Path, err)
		}
	}
	for _, o := range m.objects {
		if err := check(o); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalidModel, o.Path, err)
		}
	}
	return m, nil
}

func (m *Model) link(o *Object) error {
	sp, err := path.ParseSupported(o.Path)
	if err != nil {
		return err
	}
	if sp.Kind() != path.Object {
		return errors.New("not an object path")
	}
	if m.byPath[o.Path] != nil {
		return errors.New("defined twice")
	}
	segs := sp.Segments
	last := segs[len(segs)-1]
	o.MultiInstance = last.Kind == path.SegPlaceholder
	if o.MultiInstance {
		segs = segs[:len(segs)-1]
	} else if o.Access != usp.ObjReadOnly {
		return errors.New("only tables can allow add or delete")
	}
	o.Name = segs[len(segs)-1].Name
	if len(segs) == 1 {
		if m.root != nil {
			return errors.New("second root object")
		}
		m.root = o
	} else {
		parentPath := o.Path[:len(o.Path)-len(o.Name)-1]
		if o.MultiInstance {
			parentPath = o.Path[:len(o.Path)-len(o.Name)-len(".{i}.")]
		}
		parent := m.byPath[parentPath]
		if parent == nil {
			return fmt.Errorf("parent %q not defined before it", parentPath)
		}
		o.Parent = parent
		o.ChildIndex = len(parent.Children)
		parent.Children = append(parent.Children, o)
		if o.MultiInstance {
			o.CountParam = parent.Param(o.Name + "NumberOfEntries")
		}
	}
	o.Index = len(m.objects)
	m.objects = append(m.objects, o)
	m.byPath[o.Path] = o
	return nil
}

// check verifies what the definition helpers cannot: unique names and keys
// that exist.
func check(o *Object) error {
	seen := make(map[string]bool)
	for i, p := range o.Params {
		p.Index = i
		if !path.IsValidName(p.Name) {
			return fmt.Errorf("bad parameter name %q", p.Name)
		}
		if seen[p.Name] {
			return fmt.Errorf("parameter %q defined twice", p.Name)
		}
		seen[p.Name] = true
		if p.Default != "" {
			if _, err := p.Validate(p.Default); err != nil {
				return fmt.Errorf("parameter %q: default: %w", p.Name, err)
			}
		}
	}
	for _, c := range o.Commands {
		if !strings.HasSuffix(c.Name, "()") || !path.IsValidName(strings.TrimSuffix(c.Name, "()")) {
			return fmt.Errorf("bad command name %q", c.Name)
		}
	}
	for _, e := range o.Events {
		if !strings.HasSuffix(e.Name, "!") || !path.IsValidName(strings.TrimSuffix(e.Name, "!")) {
			return fmt.Errorf("bad event name %q", e.Name)
		}
	}
	for _, c := range o.Children {
		if seen[c.Name] {
			return fmt.Errorf("child %q has the name of a parameter", c.Name)
		}
	}
	if len(o.UniqueKeys) > 0 && !o.MultiInstance {
		return errors.New("unique keys on a single-instance object")
	}
	for _, ks := range o.UniqueKeys {
		for _, k := range ks {
			if o.Param(k) == nil {
				return fmt.Errorf("unique key %q is not a parameter", k)
			}
		}
	}
	return nil
}
