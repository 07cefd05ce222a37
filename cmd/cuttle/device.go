package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// `cuttle device`: the inventory (ls, show, label, rm) and the USP
// operations on one device (deviceusp.go).

func deviceCommands() []cliCommand {
	return []cliCommand{
		{name: "ls", summary: "list and query devices", run: (*apiCLI).deviceList},
		{name: "show", summary: "show a device's inventory record", run: (*apiCLI).deviceShow},
		{name: "get", summary: "read parameters (USP Get)", run: (*apiCLI).deviceGet},
		{name: "set", summary: "change parameters (USP Set)", run: (*apiCLI).deviceSet},
		{name: "add", summary: "create an object instance (USP Add)", run: (*apiCLI).deviceAdd},
		{name: "delete", summary: "delete object instances (USP Delete)", run: (*apiCLI).deviceDelete},
		{name: "operate", summary: "run a command (USP Operate)", run: (*apiCLI).deviceOperate},
		{name: "instances", summary: "list object instances (USP GetInstances)", run: (*apiCLI).deviceInstances},
		{name: "supported-dm", summary: "describe the supported data model (USP GetSupportedDM)", run: (*apiCLI).deviceSupportedDM},
		{name: "label", summary: "set (KEY=VALUE) and remove (KEY-) labels", run: (*apiCLI).deviceLabel},
		{name: "rm", summary: "remove a device from the inventory, optionally revoking its credential", run: (*apiCLI).deviceRemove},
	}
}

// deviceView is what the tables show of the API's Device object; JSON and
// YAML output print the object itself.
type deviceView struct {
	EndpointID      string            `json:"endpoint_id"`
	Status          string            `json:"status"`
	StatusSince     time.Time         `json:"status_since"`
	LastSeen        time.Time         `json:"last_seen"`
	Manufacturer    string            `json:"manufacturer"`
	ManufacturerOUI string            `json:"manufacturer_oui"`
	Model           string            `json:"model"`
	ProductClass    string            `json:"product_class"`
	SerialNumber    string            `json:"serial_number"`
	SoftwareVersion string            `json:"software_version"`
	HardwareVersion string            `json:"hardware_version"`
	Labels          map[string]string `json:"labels"`
	BrokerNode      string            `json:"broker_node"`
	Remote          string            `json:"remote"`
	Subscribed      bool              `json:"subscribed"`
	Boot            *struct {
		Time            time.Time `json:"time"`
		Cause           string    `json:"cause"`
		CommandKey      string    `json:"command_key"`
		Reason          string    `json:"reason"`
		FirmwareUpdated bool      `json:"firmware_updated"`
	} `json:"boot"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// maxPageSize is the API's largest page.
const maxPageSize = 1000

func (c *apiCLI) deviceList(ctx context.Context, args []string) error {
	fs, cf := c.outputFlagSet("device ls", "", "List devices, filtered and sorted by the API; -o json prints a JSON array of the API's device objects.",
		fmtTable, fmtJSON, fmtYAML, fmtID)
	q := map[string]*string{}
	for _, f := range []struct{ flag, param, help string }{
		{"status", "status", "online or offline"},
		{"model", "model", "exact model name"},
		{"manufacturer", "manufacturer", "exact manufacturer"},
		{"software-version", "software_version", "exact software version"},
		{"labels", "labels", "label selector: key, !key, key=value, key!=value terms, comma-separated, all must hold"},
		{"q", "q", "free text, matched in IDs, serial numbers, models, versions and label values"},
		{"sort", "sort", "endpoint_id (default), last_seen, status, model, software_version or status_since; -F reverses"},
	} {
		q[f.param] = fs.String(f.flag, "", f.help)
	}
	limit := fs.Int("limit", 50, "show at most this many devices, fetching pages as needed")
	all := fs.Bool("all", false, "show every matching device (follows the cursor through every page)")
	if _, err := c.parseOutput(fs, args, 0, 0); err != nil {
		return helpOK(err)
	}
	if *limit < 1 && !*all {
		return usageError(fs.FlagSet, "--limit must be at least 1")
	}
	api, err := c.client(cf)
	if err != nil {
		return err
	}
	query := url.Values{}
	for k, v := range q {
		if *v != "" {
			query.Set(k, *v)
		}
	}
	devices, err := c.fetchPages(ctx, api, "/api/v1/devices", query, "devices", *limit, *all)
	if err != nil {
		return err
	}
	now := time.Now()
	err = printList(c, *fs.out, devices.items, "ENDPOINT ID\tSTATUS\tMODEL\tSOFTWARE\tLAST SEEN\tLABELS",
		func(d deviceView) string { return d.EndpointID },
		func(d deviceView) string {
			return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", cell(d.EndpointID), d.Status, cell(d.Model), cell(d.SoftwareVersion),
				ago(d.LastSeen, now), cell(joinKV(d.Labels, ",")))
		})
	if err != nil {
		return err
	}
	if *fs.out == fmtTable && len(devices.items) < devices.total {
		fmt.Fprintf(c.stderr, "Showing %d of %d devices; --all shows every one.\n", len(devices.items), devices.total)
	}
	return nil
}

func (c *apiCLI) deviceShow(ctx context.Context, args []string) error {
	fs, cf := c.outputFlagSet("device show", "ID", "Show a device's inventory record.", fmtTable, fmtJSON, fmtYAML)
	pos, err := c.parseOutput(fs, args, 1, 1)
	if err != nil {
		return helpOK(err)
	}
	api, err := c.client(cf)
	if err != nil {
		return err
	}
	var d deviceView
	raw, err := api.doJSON(ctx, http.MethodGet, devicePath(pos[0]), nil, nil, &d)
	if err != nil {
		return err
	}
	if *fs.out != fmtTable {
		return printDoc(c.stdout, *fs.out, raw)
	}
	return c.printDevice(d)
}

// printDevice prints one device as a list of fields.
func (c *apiCLI) printDevice(d deviceView) error {
	tw := newTable(c.stdout)
	now := time.Now()
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, cell(v)) }
	row("Endpoint ID", d.EndpointID)
	row("Status", fmt.Sprintf("%s since %s (%s)", d.Status, timestamp(d.StatusSince), ago(d.StatusSince, now)))
	row("Last seen", fmt.Sprintf("%s (%s)", timestamp(d.LastSeen), ago(d.LastSeen, now)))
	manufacturer := d.Manufacturer
	if d.ManufacturerOUI != "" {
		manufacturer += " (OUI " + d.ManufacturerOUI + ")"
	}
	row("Manufacturer", manufacturer)
	row("Model", d.Model)
	row("Product class", d.ProductClass)
	row("Serial number", d.SerialNumber)
	row("Software", d.SoftwareVersion)
	row("Hardware", d.HardwareVersion)
	row("Labels", joinKV(d.Labels, ", "))
	row("Broker node", d.BrokerNode)
	row("Remote address", d.Remote)
	row("Subscribed", strconv.FormatBool(d.Subscribed))
	if b := d.Boot; b != nil {
		boot := fmt.Sprintf("%s, cause %s", timestamp(b.Time), dash(b.Cause))
		if b.Reason != "" {
			boot += ", reason " + b.Reason
		}
		if b.FirmwareUpdated {
			boot += ", firmware updated"
		}
		row("Last boot", boot)
	}
	row("Created", timestamp(d.Created))
	row("Updated", timestamp(d.Updated))
	return tw.Flush()
}

func (c *apiCLI) deviceLabel(ctx context.Context, args []string) error {
	fs, cf := c.outputFlagSet("device label", "ID KEY=VALUE... KEY-...", "Set labels (KEY=VALUE) and remove them (KEY-); prints the device.",
		fmtTable, fmtJSON, fmtYAML)
	pos, err := c.parseOutput(fs, args, 2, -1)
	if err != nil {
		return helpOK(err)
	}
	patch := struct {
		Set    map[string]string `json:"set,omitempty"`
		Remove []string          `json:"remove,omitempty"`
	}{Set: map[string]string{}}
	for _, a := range pos[1:] {
		k, v, isSet := strings.Cut(a, "=")
		switch {
		case isSet && k != "":
			patch.Set[k] = v
		case !isSet && len(a) > 1 && strings.HasSuffix(a, "-"):
			patch.Remove = append(patch.Remove, strings.TrimSuffix(a, "-"))
		default:
			return usageError(fs.FlagSet, "%q: want KEY=VALUE to set a label or KEY- to remove one", a)
		}
	}
	for _, k := range patch.Remove {
		if _, ok := patch.Set[k]; ok {
			return usageError(fs.FlagSet, "label %q is both set and removed", k)
		}
	}
	api, err := c.client(cf)
	if err != nil {
		return err
	}
	var d deviceView
	raw, err := api.doJSON(ctx, http.MethodPatch, devicePath(pos[0], "labels"), nil, patch, &d)
	if err != nil {
		return err
	}
	if *fs.out != fmtTable {
		return printDoc(c.stdout, *fs.out, raw)
	}
	tw := newTable(c.stdout)
	fmt.Fprintln(tw, "ENDPOINT ID\tLABELS")
	fmt.Fprintf(tw, "%s\t%s\n", cell(d.EndpointID), cell(joinKV(d.Labels, ",")))
	return tw.Flush()
}

func (c *apiCLI) deviceRemove(ctx context.Context, args []string) error {
	fs, cf := c.outputFlagSet("device rm", "ID...", "Remove devices from the inventory. A device comes back when it next connects, unless --revoke also removes its broker credential (admins only), which disconnects it.",
		fmtTable, fmtJSON, fmtYAML)
	revoke := fs.Bool("revoke", false, "also remove the broker credential named by the endpoint ID")
	pos, err := c.parseOutput(fs, args, 1, -1)
	if err != nil {
		return helpOK(err)
	}
	api, err := c.client(cf)
	if err != nil {
		return err
	}
	var q url.Values
	if *revoke {
		q = url.Values{"revoke": {"true"}}
	}
	var results []json.RawMessage
	err = forEachID(pos, func(id string) error {
		var res struct {
			CredentialRemoved bool `json:"credential_removed"`
		}
		raw, err := api.doJSON(ctx, http.MethodDelete, devicePath(id), q, nil, &res)
		if err != nil {
			return err
		}
		results = append(results, raw)
		if *fs.out == fmtTable {
			msg := "removed " + id
			if res.CredentialRemoved {
				msg += " and its credential"
			}
			fmt.Fprintln(c.stdout, msg)
		}
		return nil
	})
	switch {
	case err != nil || *fs.out == fmtTable:
		return err
	case len(results) == 1:
		return printDoc(c.stdout, *fs.out, results[0])
	}
	return printDoc(c.stdout, *fs.out, jsonArray(results))
}
