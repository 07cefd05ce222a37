package auth

import (
	"errors"
	"testing"
)

// TestRoleAllows spells out the whole permission table.
func TestRoleAllows(t *testing.T) {
	tests := []struct {
		role                                Role
		read, operate, manageDevices, admin bool
	}{
		{RoleAdmin, true, true, true, true},
		{RoleOperator, true, true, true, false},
		{RoleViewer, true, false, false, false},
		{"", false, false, false, false},
		{"root", false, false, false, false},
		{"Admin", false, false, false, false}, // roles are exact; ParseRole normalises
	}
	for _, tt := range tests {
		for _, c := range []struct {
			action Action
			want   bool
		}{
			{ActionRead, tt.read},
			{ActionOperate, tt.operate},
			{ActionManageDevices, tt.manageDevices},
			{ActionAdmin, tt.admin},
			{"delete-everything", false},
		} {
			if got := tt.role.Allows(c.action); got != c.want {
				t.Errorf("Role(%q).Allows(%q) = %v, want %v", tt.role, c.action, got, c.want)
			}
		}
	}
	if len(Roles()) != len(permissions) {
		t.Errorf("Roles() lists %d roles, the table has %d", len(Roles()), len(permissions))
	}
	for _, a := range Actions() {
		if !RoleAdmin.Allows(a) {
			t.Errorf("admin does not allow %q", a)
		}
	}
}

func TestParseRole(t *testing.T) {
	tests := []struct {
		in   string
		want Role
		ok   bool
	}{
		{"admin", RoleAdmin, true},
		{" Operator ", RoleOperator, true},
		{"VIEWER", RoleViewer, true},
		{"", "", false},
		{"device", "", false},
	}
	for _, tt := range tests {
		got, err := ParseRole(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseRole(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseRole(%q) error %v does not wrap ErrInvalid", tt.in, err)
		}
	}
}
