package tr181

import (
	"sync"

	"cuttle/usp"
)

// Device returns the supported Device:2 model. It is built once and shared:
// callers must not modify it.
func Device() *Model { return device() }

var device = sync.OnceValue(func() *Model {
	objs := append(coreObjects(), networkObjects()...)
	m, err := NewModel(DataModelURI, objs...)
	if err != nil {
		// The definitions are constants of this package; a test builds them.
		panic(err)
	}
	return m
})

// Enumerations shared by several objects.
var (
	ifStatus       = Enum("Up", "Down", "Unknown", "Dormant", "NotPresent", "LowerLayerDown", "Error")
	protocols      = Enum("CoAP", "WebSocket", "STOMP", "MQTT", "UDS")
	wifiStandards  = Enum("a", "b", "g", "n", "ac", "ax", "be")
	notifTypes     = Enum("ValueChange", "ObjectCreation", "ObjectDeletion", "OperationComplete", "Event")
	requestStatus  = Enum("Requested", "Active", "Canceling", "Canceled", "Success", "Error")
	firmwareStatus = Enum("NoImage", "Active", "Downloading", "Validating", "Available",
		"DownloadFailed", "ValidationFailed", "InstallationFailed", "ActivationFailed")
)

// alias is the Alias parameter every table here has: a non-functional key
// that may only be set once (R-KEY.1), and is agent-assigned ("cpe-N") when
// the Controller does not choose it.
func alias() *Param { return String("Alias", Once, MaxLen(64)) }

// coreObjects defines Device., Device.DeviceInfo. and Device.LocalAgent.
func coreObjects() []*Object {
	return []*Object{
		Obj("Device.",
			String("RootDataModelVersion", Default("2.19"), MaxLen(32)),
			SyncCmd("Reboot()", In("Cause", "Reason")),
			SyncCmd("FactoryReset()", In("Cause", "Reason")),
			Evt("Boot!", "CommandKey", "Cause", "Reason", "FirmwareUpdated", "ParameterMap"),
		),

		Obj("Device.DeviceInfo.",
			String("Manufacturer", MaxLen(64)),
			String("ManufacturerOUI", Form(OUI)),
			String("ModelName", MaxLen(64)),
			String("ModelNumber", MaxLen(64)),
			String("Description", MaxLen(256)),
			String("ProductClass", MaxLen(64)),
			String("SerialNumber", MaxLen(64)),
			String("HardwareVersion", MaxLen(64)),
			String("SoftwareVersion", MaxLen(64)),
			String("ActiveFirmwareImage", Form(ObjRef)),
			String("BootFirmwareImage", RW, Form(ObjRef)),
			String("ProvisioningCode", RW, MaxLen(64)),
			UInt("UpTime"),
			DateTime("FirstUseDate"),
			String("HostName", RW, MaxLen(64)),
			UInt("FirmwareImageNumberOfEntries"),
		),
		Table("Device.DeviceInfo.FirmwareImage.{i}.", usp.ObjReadOnly,
			Keys("Alias"),
			alias(),
			String("Name", MaxLen(64)),
			String("Version", MaxLen(64)),
			Bool("Available", RW),
			String("Status", firmwareStatus, Default("NoImage")),
			String("BootFailureLog"),
			AsyncCmd("Download()",
				Must("URL", "AutoActivate"),
				In("Username", "Password", "FileSize", "CheckSumAlgorithm", "CheckSum")),
			AsyncCmd("Activate()",
				In("TimeWindow.{i}.Start", "TimeWindow.{i}.End", "TimeWindow.{i}.Mode",
					"TimeWindow.{i}.UserMessage", "TimeWindow.{i}.MaxRetries")),
		),

		Obj("Device.LocalAgent.",
			String("EndpointID"),
			String("SoftwareVersion", MaxLen(64)),
			UInt("UpTime"),
			String("SupportedProtocols", List, protocols),
			UInt("MTPNumberOfEntries"),
			UInt("ControllerNumberOfEntries"),
			UInt("SubscriptionNumberOfEntries"),
			UInt("RequestNumberOfEntries"),
			Evt("Periodic!"),
			Evt("TransferComplete!", "Command", "CommandKey", "Requestor", "TransferType", "Affected",
				"TransferURL", "StartTime", "CompleteTime", "FaultCode", "FaultString"),
		),
		// The agent's own MTPs describe how the simulator is connected; a
		// Controller cannot reconfigure them, so they are read-only here.
		Table("Device.LocalAgent.MTP.{i}.", usp.ObjReadOnly,
			Keys("Alias"),
			alias(),
			Bool("Enable"),
			String("Status", Enum("Up", "Down", "Error"), Default("Down")),
			String("Protocol", protocols),
			Bool("EnableMDNS"),
		),
		Obj("Device.LocalAgent.MTP.{i}.MQTT.",
			String("Reference", Form(ObjRef)),
			String("ResponseTopicConfigured", MaxLen(65535)),
			String("ResponseTopicDiscovered", MaxLen(65535)),
			UInt("PublishQoS", Range(0, 2)),
		),
		// Controllers come from the device's configuration, so the table is
		// read-only here; their settings are writable.
		Table("Device.LocalAgent.Controller.{i}.", usp.ObjReadOnly,
			Keys("EndpointID"), Keys("Alias"),
			alias(),
			String("EndpointID"),
			String("ControllerCode", RW, MaxLen(128)),
			String("ProvisioningCode", RW, MaxLen(64)),
			Bool("Enable", RW),
			UInt("PeriodicNotifInterval", RW, Range(1, 4294967295), Default("86400")),
			DateTime("PeriodicNotifTime", RW),
			UInt("USPNotifRetryMinimumWaitInterval", RW, Range(1, 65535), Default("5")),
			UInt("USPNotifRetryIntervalMultiplier", RW, Range(1000, 65535), Default("2000")),
			UInt("MTPNumberOfEntries"),
			UInt("BootParameterNumberOfEntries"),
		),
		Table("Device.LocalAgent.Controller.{i}.MTP.{i}.", usp.ObjReadOnly,
			Keys("Protocol"), Keys("Alias"),
			alias(),
			Bool("Enable"),
			String("Protocol", protocols),
			UInt("Order", Range(1, 4294967295), Default("1")),
		),
		Obj("Device.LocalAgent.Controller.{i}.MTP.{i}.MQTT.",
			String("Topic", MaxLen(65535)),
			Bool("PublishRetainResponse"),
			Bool("PublishRetainNotify"),
			String("AgentMTPReference", Form(ObjRef)),
		),
		Table("Device.LocalAgent.Controller.{i}.BootParameter.{i}.", usp.ObjAddDelete,
			Keys("ParameterName"), Keys("Alias"),
			alias(),
			Bool("Enable", RW),
			String("ParameterName", RW, MaxLen(256)),
		),
		Table("Device.LocalAgent.Subscription.{i}.", usp.ObjAddDelete,
			Keys("Alias"), Keys("Recipient", "ID"),
			alias(),
			Bool("Enable", RW),
			String("Recipient", Form(ObjRef)),
			String("ID", Once, MaxLen(64)),
			DateTime("CreationDate"),
			String("NotifType", RW, notifTypes),
			String("ReferenceList", Once, List),
			Bool("Persistent", RW),
			UInt("TimeToLive", RW),
			Bool("NotifRetry", RW),
			UInt("NotifExpiration", RW),
			// Only Notify is supported: the agent never rewrites its own
			// configuration from a trigger.
			String("TriggerAction", RW, Enum("Notify"), Default("Notify")),
		),
		Table("Device.LocalAgent.Request.{i}.", usp.ObjReadOnly,
			Keys("Alias"),
			alias(),
			String("Originator"),
			String("Command", MaxLen(2048)),
			String("CommandKey", MaxLen(128)),
			String("Status", requestStatus, Default("Requested")),
			SyncCmd("Cancel()"),
		),
	}
}
