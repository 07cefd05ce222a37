package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// `cuttle token`: the API's bearer tokens (admins only).

func tokenCommands() []cliCommand {
	return []cliCommand{
		{name: "create", summary: "create a token and print its secret, once", run: (*apiCLI).tokenCreate},
		{name: "ls", summary: "list tokens", run: (*apiCLI).tokenList},
		{name: "revoke", summary: "revoke tokens; they stop working at once", run: (*apiCLI).tokenRevoke},
	}
}

// tokenView is what the tables show of the API's Token object.
type tokenView struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by"`
	LastUsed  time.Time `json:"last_used"`
	Expires   time.Time `json:"expires"`
	Revoked   bool      `json:"revoked"`
}

func (t tokenView) state(now time.Time) string {
	switch {
	case t.Revoked:
		return "revoked"
	case !t.Expires.IsZero() && !now.Before(t.Expires):
		return "expired"
	}
	return "active"
}

// tokenRoles are the roles a token may have (controller/auth).
var tokenRoles = []string{"admin", "operator", "viewer"}

func (c *apiCLI) tokenCreate(ctx context.Context, args []string) error {
	fs, cf := c.outputFlagSet("token create", "", "Create an API token. Its secret is printed this once: store it (CUTTLE_TOKEN) now. Roles: viewer reads; operator also runs USP operations and jobs and manages devices; admin also manages tokens and credentials.",
		fmtTable, fmtJSON, fmtYAML)
	name := fs.String("name", "", "what the token is for, shown in the audit log (required)")
	role := fs.String("role", "", "admin, operator or viewer (required)")
	ttl := fs.Duration("ttl", 0, "lifetime, such as 720h (default: no expiry)")
	if _, err := c.parseOutput(fs, args, 0, 0); err != nil {
		return helpOK(err)
	}
	switch {
	case *name == "" || *role == "":
		return usageError(fs.FlagSet, "--name and --role are required")
	case *ttl < 0:
		return usageError(fs.FlagSet, "--ttl must not be negative")
	}
	api, err := c.client(cf)
	if err != nil {
		return err
	}
	body := map[string]any{"name": *name, "role": *role}
	if *ttl > 0 {
		body["ttl"] = ttl.String()
	}
	var res struct {
		Token  tokenView `json:"token"`
		Secret string    `json:"secret"`
	}
	raw, err := api.doJSON(ctx, http.MethodPost, "/api/v1/tokens", nil, body, &res)
	if err != nil {
		return err
	}
	if *fs.out != fmtTable {
		return printDoc(c.stdout, *fs.out, raw)
	}
	tw := newTable(c.stdout)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tEXPIRES\tSECRET")
	fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", res.Token.ID, cell(res.Token.Name), res.Token.Role, timestamp(res.Token.Expires), res.Secret)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(c.stderr, "The secret is shown only this once: store it now.")
	return nil
}

func (c *apiCLI) tokenList(ctx context.Context, args []string) error {
	fs, cf := c.outputFlagSet("token ls", "", "List API tokens, revoked ones included; secrets are never shown again.",
		fmtTable, fmtJSON, fmtYAML, fmtID)
	if _, err := c.parseOutput(fs, args, 0, 0); err != nil {
		return helpOK(err)
	}
	api, err := c.client(cf)
	if err != nil {
		return err
	}
	var page struct {
		Tokens []json.RawMessage `json:"tokens"`
	}
	if _, err := api.doJSON(ctx, http.MethodGet, "/api/v1/tokens", nil, nil, &page); err != nil {
		return err
	}
	now := time.Now()
	return printList(c, *fs.out, page.Tokens, "ID\tNAME\tROLE\tSTATE\tCREATED BY\tLAST USED\tEXPIRES",
		func(t tokenView) string { return t.ID },
		func(t tokenView) string {
			return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s", t.ID, cell(t.Name), t.Role, t.state(now), cell(t.CreatedBy),
				ago(t.LastUsed, now), timestamp(t.Expires))
		})
}

func (c *apiCLI) tokenRevoke(ctx context.Context, args []string) error {
	fs, cf := c.flagSet("token revoke", "ID...", "Revoke API tokens by ID (see `cuttle token ls`); they stop working at once.")
	pos, err := c.parse(fs, args, 1, -1)
	if err != nil {
		return helpOK(err)
	}
	api, err := c.client(cf)
	if err != nil {
		return err
	}
	return forEachID(pos, func(id string) error {
		if _, err := api.do(ctx, http.MethodDelete, "/api/v1/tokens/"+escapeID(id), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "revoked %s\n", id)
		return nil
	})
}
