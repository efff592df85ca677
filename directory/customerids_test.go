package directory

import (
	"slices"
	"testing"
)

func TestSplitCustomerIDs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  ", nil},
		{"ACME", []string{"ACME"}},
		{"A; B ;C", []string{"A", "B", "C"}},
		{"A,B;C", []string{"A,B", "C"}}, // ";" is looked for first
		{"A,B|C", []string{"A", "B|C"}},
		{"A|B|A|", []string{"A", "B"}},
	} {
		if got := SplitCustomerIDs(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("SplitCustomerIDs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
