package tr181

import (
	"errors"
	"fmt"
	"testing"

	"cuttle/usp"
)

func TestDeviceModel(t *testing.T) {
	m := Device()
	if m.URI != DataModelURI || m.Root().Path != "Device." {
		t.Fatalf("URI %q root %q", m.URI, m.Root().Path)
	}
	// Everything the simulator issue lists.
	for _, p := range []string{
		"Device.DeviceInfo.Manufacturer", "Device.DeviceInfo.ManufacturerOUI", "Device.DeviceInfo.ModelName",
		"Device.DeviceInfo.ProductClass", "Device.DeviceInfo.SerialNumber", "Device.DeviceInfo.HardwareVersion",
		"Device.DeviceInfo.SoftwareVersion", "Device.DeviceInfo.UpTime", "Device.DeviceInfo.ActiveFirmwareImage",
		"Device.DeviceInfo.BootFirmwareImage", "Device.DeviceInfo.ProvisioningCode", "Device.DeviceInfo.FirmwareImageNumberOfEntries",
		"Device.DeviceInfo.FirmwareImage.{i}.Name", "Device.DeviceInfo.FirmwareImage.{i}.Version",
		"Device.DeviceInfo.FirmwareImage.{i}.Available", "Device.DeviceInfo.FirmwareImage.{i}.Status",
		"Device.DeviceInfo.FirmwareImage.{i}.BootFailureLog",
		"Device.LocalAgent.EndpointID", "Device.LocalAgent.SoftwareVersion", "Device.LocalAgent.UpTime",
		"Device.LocalAgent.SupportedProtocols", "Device.LocalAgent.Controller.{i}.EndpointID",
		"Device.LocalAgent.Controller.{i}.Enable", "Device.LocalAgent.Controller.{i}.PeriodicNotifInterval",
		"Device.LocalAgent.Controller.{i}.PeriodicNotifTime", "Device.LocalAgent.Controller.{i}.BootParameter.{i}.Enable",
		"Device.LocalAgent.Controller.{i}.BootParameter.{i}.ParameterName", "Device.LocalAgent.Controller.{i}.MTP.{i}.MQTT.Topic",
		"Device.LocalAgent.Subscription.{i}.Enable", "Device.LocalAgent.Subscription.{i}.Recipient",
		"Device.LocalAgent.Subscription.{i}.ID", "Device.LocalAgent.Subscription.{i}.CreationDate",
		"Device.LocalAgent.Subscription.{i}.NotifType", "Device.LocalAgent.Subscription.{i}.ReferenceList",
		"Device.LocalAgent.Subscription.{i}.Persistent", "Device.LocalAgent.Subscription.{i}.TimeToLive",
		"Device.LocalAgent.Subscription.{i}.NotifRetry", "Device.LocalAgent.Subscription.{i}.NotifExpiration",
		"Device.LocalAgent.Request.{i}.Originator", "Device.LocalAgent.Request.{i}.Command",
		"Device.LocalAgent.Request.{i}.CommandKey", "Device.LocalAgent.Request.{i}.Status",
		"Device.LocalAgent.MTP.{i}.Protocol", "Device.WiFi.Radio.{i}.Channel", "Device.WiFi.SSID.{i}.SSID",
		"Device.WiFi.SSID.{i}.Stats.BytesSent", "Device.WiFi.AccessPoint.{i}.SSIDReference",
		"Device.WiFi.AccessPoint.{i}.AssociatedDevice.{i}.MACAddress", "Device.IP.Interface.{i}.Name",
		"Device.IP.Interface.{i}.IPv4Address.{i}.IPAddress", "Device.Hosts.Host.{i}.PhysAddress",
		"Device.Time.Enable", "Device.Time.Status", "Device.Time.CurrentLocalTime", "Device.Time.LocalTimeZone",
		"Device.Time.NTPServer1",
	} {
		if o, prm := m.Param(p); o == nil || prm == nil {
			t.Errorf("no parameter %s", p)
		}
	}
	for p, typ := range map[string]usp.CommandType{
		"Device.Reboot()": usp.CommandSync, "Device.FactoryReset()": usp.CommandSync,
		"Device.DeviceInfo.FirmwareImage.{i}.Download()": usp.CommandAsync,
		"Device.DeviceInfo.FirmwareImage.{i}.Activate()": usp.CommandAsync,
		"Device.LocalAgent.Request.{i}.Cancel()":         usp.CommandSync,
	} {
		if _, c := m.Command(p); c == nil || c.Type != typ {
			t.Errorf("command %s: %+v", p, c)
		}
	}
	for _, p := range []string{"Device.Boot!", "Device.LocalAgent.Periodic!", "Device.LocalAgent.TransferComplete!"} {
		if _, e := m.Event(p); e == nil {
			t.Errorf("no event %s", p)
		}
	}
	_, dl := m.Command("Device.DeviceInfo.FirmwareImage.{i}.Download()")
	if !dl.Inputs[0].Mandatory || dl.Inputs[0].Name != "URL" || !dl.Inputs[1].Mandatory || dl.Inputs[2].Mandatory {
		t.Errorf("Download() inputs %+v", dl.Inputs)
	}
}

func TestLookups(t *testing.T) {
	m := Device()
	ssid := m.Object("Device.WiFi.SSID.{i}.")
	if ssid == nil || m.Object("Device.WiFi.SSID.") != ssid {
		t.Fatal("a table is found with and without its final {i}.")
	}
	if m.Object("Device.WiFi.") == nil || m.Object("Device.WiFi.{i}.") != nil || m.Object("Device.Nope.") != nil {
		t.Error("Object lookups")
	}
	if !ssid.MultiInstance || ssid.Access != usp.ObjAddDelete || ssid.Name != "SSID" || ssid.Parent != m.Object("Device.WiFi.") {
		t.Errorf("SSID %+v", ssid)
	}
	if ssid.CountParam == nil || ssid.CountParam.Name != "SSIDNumberOfEntries" {
		t.Errorf("CountParam %+v", ssid.CountParam)
	}
	if stats := ssid.Child("Stats"); stats == nil || stats.MultiInstance || stats.Path != "Device.WiFi.SSID.{i}.Stats." {
		t.Errorf("Stats %+v", stats)
	}
	if !ssid.IsKey("BSSID") || ssid.IsKey("SSID") {
		t.Error("IsKey")
	}
	sub := m.Object("Device.LocalAgent.Subscription.{i}.")
	if got := fmt.Sprint(sub.KeyNames()); got != "[Alias Recipient ID]" {
		t.Errorf("KeyNames = %s", got)
	}
	for i, o := range m.Objects() {
		if o.Index != i {
			t.Fatalf("%s has Index %d at %d", o.Path, o.Index, i)
		}
		for j, p := range o.Params {
			if p.Index != j {
				t.Fatalf("%s%s has Index %d at %d", o.Path, p.Name, p.Index, j)
			}
		}
		if o.Parent != nil && o.Parent.Children[o.ChildIndex] != o {
			t.Fatalf("%s: ChildIndex", o.Path)
		}
	}
	if o, name := m.Lookup("Device.WiFi.SSID.{i}.Stats.BytesSent"); o == nil || name != "BytesSent" {
		t.Errorf("Lookup: %v %q", o, name)
	}
	if o, p := m.Param("Device.WiFi.SSID.{i}.Nope"); o != nil || p != nil {
		t.Error("Param of a missing parameter")
	}
}

func TestNewModelErrors(t *testing.T) {
	root := func() *Object { return Obj("Device.", String("X")) }
	tests := []struct {
		name string
		objs []*Object
	}{
		{"parent missing", []*Object{root(), Obj("Device.A.B.")}},
		{"twice", []*Object{root(), Obj("Device.A."), Obj("Device.A.")}},
		{"two roots", []*Object{root(), Obj("Other.")}},
		{"bad path", []*Object{root(), Obj("Device.A")}},
		{"key not a parameter", []*Object{root(), Table("Device.T.{i}.", usp.ObjAddDelete, Keys("Name"))}},
		{"add-delete single object", []*Object{root(), Table("Device.T.", usp.ObjAddDelete)}},
		{"bad default", []*Object{Obj("Device.", UInt("N", Range(1, 5)))}},
		{"parameter twice", []*Object{Obj("Device.", String("N"), Bool("N"))}},
		{"bad command name", []*Object{Obj("Device.", SyncCmd("Go"))}},
		{"bad event name", []*Object{Obj("Device.", Evt("Boot"))}},
		{"child named like a parameter", []*Object{Obj("Device.", String("A")), Obj("Device.A.")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewModel("urn:test", tt.objs...); !errors.Is(err, ErrInvalidModel) {
				t.Fatalf("err = %v, want ErrInvalidModel", err)
			}
		})
	}
}

// ExampleNewModel shows how a data model is written.
func ExampleNewModel() {
	m, err := NewModel("urn:example:dm-1",
		Obj("Device.",
			SyncCmd("Reboot()", In("Cause")),
			Evt("Boot!", "Cause")),
		Obj("Device.Thermostat.",
			Int("Temperature", Range(-40, 60)),
			Int("Setpoint", RW, Range(5, 30), Default("20")),
			UInt("SensorNumberOfEntries")),
		Table("Device.Thermostat.Sensor.{i}.", usp.ObjReadOnly,
			Keys("Name"),
			String("Name", MaxLen(32)),
			String("MACAddress", Form(MAC))),
	)
	if err != nil {
		panic(err)
	}
	o, p := m.Param("Device.Thermostat.Setpoint")
	_, verr := p.Validate("35")
	fmt.Println(o.Path, p.Name, p.Writable(), p.Default, verr)
	fmt.Println(m.Object("Device.Thermostat.Sensor.").CountParam.Name)
	// Output:
	// Device.Thermostat. Setpoint true 20 usp 7012 InvalidValue: Setpoint: 35 is outside [5, 30]
	// SensorNumberOfEntries
}
