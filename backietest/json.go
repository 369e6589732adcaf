package backietest

import (
	"bytes"
	"encoding/json"
	"math/big"
)

// decodeJSON decodes b keeping numbers exact (json.Number), so that large
// integers compare without float rounding.
func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// jsonContains reports whether the decoded JSON value has contains the
// decoded value sub, as PostgreSQL's jsonb @> decides: an object contains
// an object whose keys it has, with values that contain the other's; an
// array contains an array each of whose elements is contained by one of
// its own, in any order; scalars contain equal scalars (numbers by value:
// 1.0 is 1).
func jsonContains(has, sub any) bool {
	switch s := sub.(type) {
	case map[string]any:
		h, ok := has.(map[string]any)
		if !ok {
			return false
		}
		for k, sv := range s {
			hv, ok := h[k]
			if !ok || !jsonContains(hv, sv) {
				return false
			}
		}
		return true
	case []any:
		h, ok := has.([]any)
		if !ok {
			return false
		}
		for _, sv := range s {
			found := false
			for _, hv := range h {
				if jsonContains(hv, sv) {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
		return true
	case json.Number:
		h, ok := has.(json.Number)
		if !ok {
			return false
		}
		a, okA := new(big.Float).SetString(h.String())
		b, okB := new(big.Float).SetString(s.String())
		return okA && okB && a.Cmp(b) == 0
	default: // string, bool, nil
		return has == sub
	}
}
