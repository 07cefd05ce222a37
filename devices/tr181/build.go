package tr181

import "cuttle/usp"

// Member is something an object definition contains: a *Param, *Command,
// *Event or a unique key set from Keys.
type Member interface {
	addTo(o *Object)
}

func (p *Param) addTo(o *Object)   { o.Params = append(o.Params, p) }
func (c *Command) addTo(o *Object) { o.Commands = append(o.Commands, c) }
func (e *Event) addTo(o *Object)   { o.Events = append(o.Events, e) }

type keySet []string

func (k keySet) addTo(o *Object) { o.UniqueKeys = append(o.UniqueKeys, []string(k)) }

// Keys declares a unique key set of a table.
func Keys(names ...string) Member { return keySet(names) }

// Obj defines a single-instance object, e.g. Obj("Device.DeviceInfo.", ...).
func Obj(supportedPath string, members ...Member) *Object {
	o := &Object{Path: supportedPath, Access: usp.ObjReadOnly}
	for _, m := range members {
		m.addTo(o)
	}
	return o
}

// Table defines a multi-instance object whose path ends in "{i}.", with the
// given Controller access (ObjReadOnly for tables only the device fills).
func Table(supportedPath string, access usp.ObjAccess, members ...Member) *Object {
	o := Obj(supportedPath, members...)
	o.Access = access
	return o
}

// Opt refines a parameter definition.
type Opt func(*Param)

// The parameter options.
var (
	// RW makes a parameter writable by Controllers.
	RW Opt = func(p *Param) { p.Access = usp.ParamReadWrite }
	// WO makes a parameter write-only (it reads as "").
	WO Opt = func(p *Param) { p.Access = usp.ParamWriteOnly; p.Hidden = true }
	// Once makes a parameter writeOnceReadOnly.
	Once Opt = func(p *Param) { p.Access = usp.ParamReadWrite; p.WriteOnce = true }
	// Secret hides a readable-writable value (a passphrase): it reads as "".
	Secret Opt = func(p *Param) { p.Hidden = true }
	// List makes a string a comma-separated list.
	List Opt = func(p *Param) { p.List = true }
	// NoNotify marks a parameter whose changes the agent does not report in
	// ValueChange notifications (value_change VALUE_CHANGE_WILL_IGNORE),
	// such as a clock.
	NoNotify Opt = func(p *Param) { p.ValueChange = usp.ValueChangeWillIgnore }
)

// Default sets the value new instances start with.
func Default(v string) Opt { return func(p *Param) { p.Default = v } }

// Enum restricts a string to the given values.
func Enum(values ...string) Opt { return func(p *Param) { p.Enum = values } }

// Range restricts a number to [min, max].
func Range(min, max int64) Opt { return func(p *Param) { p.Range = &IntRange{Min: min, Max: max} } }

// MaxLen restricts a string to n bytes.
func MaxLen(n int) Opt { return func(p *Param) { p.MaxLen = n } }

// Form restricts a string to a pattern.
func Form(pat Pattern) Opt { return func(p *Param) { p.Pattern = pat } }

func param(name string, t usp.ParamType, def string, opts []Opt) *Param {
	p := &Param{Name: name, Type: t, Access: usp.ParamReadOnly, ValueChange: usp.ValueChangeAllowed, Default: def}
	for _, o := range opts {
		o(p)
	}
	return p
}

// String defines a string parameter (default "").
func String(name string, opts ...Opt) *Param { return param(name, usp.TypeString, "", opts) }

// Bool defines a boolean parameter (default "false").
func Bool(name string, opts ...Opt) *Param { return param(name, usp.TypeBoolean, "false", opts) }

// Int defines an int parameter (default "0").
func Int(name string, opts ...Opt) *Param { return param(name, usp.TypeInt, "0", opts) }

// UInt defines an unsignedInt parameter (default "0").
func UInt(name string, opts ...Opt) *Param { return param(name, usp.TypeUnsignedInt, "0", opts) }

// Long defines a long parameter (default "0").
func Long(name string, opts ...Opt) *Param { return param(name, usp.TypeLong, "0", opts) }

// ULong defines an unsignedLong parameter (default "0").
func ULong(name string, opts ...Opt) *Param { return param(name, usp.TypeUnsignedLong, "0", opts) }

// UnknownTime is TR-106's "Unknown Time", the default of dateTime parameters.
const UnknownTime = "0001-01-01T00:00:00Z"

// DateTime defines a dateTime parameter (default Unknown Time).
func DateTime(name string, opts ...Opt) *Param {
	return param(name, usp.TypeDateTime, UnknownTime, opts)
}

// Decimal defines a decimal parameter (default "0").
func Decimal(name string, opts ...Opt) *Param { return param(name, usp.TypeDecimal, "0", opts) }

// HexBinary defines a hexBinary parameter (default "").
func HexBinary(name string, opts ...Opt) *Param { return param(name, usp.TypeHexBinary, "", opts) }

// Base64 defines a base64 parameter (default "").
func Base64(name string, opts ...Opt) *Param { return param(name, usp.TypeBase64, "", opts) }

// CmdOpt refines a command definition.
type CmdOpt func(*Command)

// In adds optional input arguments.
func In(names ...string) CmdOpt {
	return func(c *Command) {
		for _, n := range names {
			c.Inputs = append(c.Inputs, Arg{Name: n})
		}
	}
}

// Must adds mandatory input arguments (R-OPR.5).
func Must(names ...string) CmdOpt {
	return func(c *Command) {
		for _, n := range names {
			c.Inputs = append(c.Inputs, Arg{Name: n, Mandatory: true})
		}
	}
}

// Out adds output arguments.
func Out(names ...string) CmdOpt {
	return func(c *Command) { c.Outputs = append(c.Outputs, names...) }
}

// SyncCmd defines a synchronous command; name includes "()".
func SyncCmd(name string, opts ...CmdOpt) *Command { return cmd(name, usp.CommandSync, opts) }

// AsyncCmd defines an asynchronous command; name includes "()".
func AsyncCmd(name string, opts ...CmdOpt) *Command { return cmd(name, usp.CommandAsync, opts) }

func cmd(name string, t usp.CommandType, opts []CmdOpt) *Command {
	c := &Command{Name: name, Type: t}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Evt defines an event; name includes "!".
func Evt(name string, args ...string) *Event { return &Event{Name: name, Args: args} }
