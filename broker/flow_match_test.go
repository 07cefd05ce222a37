package broker

import "testing"

func TestTopicMatches(t *testing.T) {
	cases := []struct {
		filter, topic string
		want          bool
	}{
		{"usp/v1/agent/x", "usp/v1/agent/x", true},
		{"usp/v1/agent/x", "usp/v1/agent/y", false},
		{"usp/v1/agent/+", "usp/v1/agent/y", true},
		{"usp/v1/agent/+", "usp/v1/agent/y/z", false},
		{"usp/#", "usp/v1/agent/y", true},
		{"usp/#", "usp", true},
		{"#", "a/b", true},
		{"#", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
		{"+/+", "a/b", true},
		{"+", "a/b", false},
		{"a/b", "a", false},
		{"a", "a/b", false},
	}
	for _, c := range cases {
		if got := topicMatches(c.filter, c.topic); got != c.want {
			t.Errorf("topicMatches(%q, %q) = %v, want %v", c.filter, c.topic, got, c.want)
		}
	}
}
