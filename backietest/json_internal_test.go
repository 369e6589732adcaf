package backietest

import "testing"

// TestJSONContains: Want.Payload matches as PostgreSQL's jsonb @> does.
func TestJSONContains(t *testing.T) {
	for _, c := range []struct {
		has, sub string
		want     bool
	}{
		{`{"a":1,"b":"x"}`, `{"a":1}`, true},
		{`{"a":1,"b":"x"}`, `{}`, true},
		{`{"a":1}`, `{"a":1,"b":"x"}`, false},
		{`{"a":1}`, `{"a":2}`, false},
		{`{"a":1}`, `{"a":1.0}`, true},
		{`{"a":12345678901234567890}`, `{"a":12345678901234567891}`, false},
		{`{"a":{"b":[1,2,3],"c":null}}`, `{"a":{"b":[3,1]}}`, true},
		{`{"a":{"b":[1,2,3]}}`, `{"a":{"b":[4]}}`, false},
		{`{"a":[{"x":1,"y":2}]}`, `{"a":[{"x":1}]}`, true},
		{`{"a":null}`, `{"a":null}`, true},
		{`{"a":"1"}`, `{"a":1}`, false},
		{`{"a":true}`, `{"a":false}`, false},
		{`[1,2]`, `{"a":1}`, false},
		{`"x"`, `"x"`, true},
	} {
		has, err := decodeJSON([]byte(c.has))
		if err != nil {
			t.Fatal(err)
		}
		sub, err := decodeJSON([]byte(c.sub))
		if err != nil {
			t.Fatal(err)
		}
		if got := jsonContains(has, sub); got != c.want {
			t.Errorf("%s @> %s = %v, want %v", c.has, c.sub, got, c.want)
		}
	}
}
