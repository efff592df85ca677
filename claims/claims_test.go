package claims

import (
	"testing"

	"github.com/gatehouse-sso/gatehouse/directory"
)

func TestFromCustomerUserAndValue(t *testing.T) {
	u := &directory.CustomerUser{Login: "JDoe", Source: "OTRS", CustomerID: "ACME", CustomerIDs: []string{"ACME", "B"},
		Attrs: map[string]string{"UserEmail": "j@example.com", "UserFullname": "John Doe", "UserRoom": "B-204", "UserFax": ""}}
	s := FromCustomerUser(u, directory.Permissions{"users": {"rw"}, "billing": {"ro", "move_into"}}, "db")
	u.CustomerIDs[0] = "changed" // the claim set is a copy
	for _, tc := range []struct{ v, want string }{
		{"UserLogin", "JDoe"}, {"UserEmail", "j@example.com"}, {"UserFullname", "John Doe"},
		{"UserCustomerID", "ACME"}, {"UserCustomerIDs", "ACME,B"}, {"UserGroups", "billing:move_into,billing:ro,users:rw"},
		{"UserSource", "OTRS"}, {"UserAuthModule", "db"}, {"UserRoom", "B-204"}, {"UserMissing", ""},
	} {
		t.Run(tc.v, func(t *testing.T) {
			if got := s.Value(tc.v); got != tc.want {
				t.Errorf("Value(%s) = %q, want %q", tc.v, got, tc.want)
			}
		})
	}
	if _, ok := s.Attrs["UserFax"]; ok {
		t.Error("empty attribute kept")
	}
}
