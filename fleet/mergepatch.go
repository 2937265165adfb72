package fleet

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// MergePatch applies a JSON merge patch (RFC 7396) to target and returns
// the result: a patch that is an object sets each of its members on the
// target (an object target, or an empty one) recursively, and a member
// whose value is null removes it; any other patch replaces the target
// whole. Numbers keep the digits they were written with. ErrInvalid when
// target (unless empty) or patch is not JSON.
func MergePatch(target, patch json.RawMessage) (json.RawMessage, error) {
	p, err := decodeNumbers(patch)
	if err != nil {
		return nil, fmt.Errorf("merge patch: %v: %w", err, ErrInvalid)
	}
	var t any
	if len(bytes.TrimSpace(target)) > 0 {
		if t, err = decodeNumbers(target); err != nil {
			return nil, fmt.Errorf("merge patch target: %v: %w", err, ErrInvalid)
		}
	}
	out, err := json.Marshal(mergePatch(t, p))
	if err != nil {
		return nil, fmt.Errorf("merge patch: %w", err)
	}
	return out, nil
}

// mergePatch is RFC 7396's MergePatch(Target, Patch) on decoded values.
func mergePatch(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = map[string]any{}
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
			continue
		}
		tm[k] = mergePatch(tm[k], v)
	}
	return tm
}

func decodeNumbers(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("more than one JSON value")
	}
	return v, nil
}
