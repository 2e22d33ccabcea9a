package telemetry

import (
	"fmt"
	"strings"
	"testing"
)

func TestMetricsOperationNamesAreBounded(t *testing.T) {
	o := operationNames{max: 100}
	for _, c := range []struct{ name, want string }{
		{"", "anonymous"},
		{"Feed", "Feed"},
		{"_private9", "_private9"},
		{"9lives", "other"},
		{"has space", "other"},
		{"Ünicode", "other"},
		{strings.Repeat("a", 64), strings.Repeat("a", 64)},
		{strings.Repeat("a", 65), "other"},
	} {
		if got := o.label(c.name); got != c.want {
			t.Errorf("label(%q) = %q, want %q", c.name, got, c.want)
		}
	}
	for i := len(o.seen); i < 100; i++ {
		o.label(fmt.Sprintf("Op%d", i))
	}
	if got := o.label("OneTooMany"); got != "other" {
		t.Errorf("the 101st name: %q, want other", got)
	}
	if got := o.label("Feed"); got != "Feed" {
		t.Errorf("a name seen before the cap: %q, want Feed", got)
	}
}
