package enrich

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// jsonValue is a parsed JSON value that keeps object key order, which
// map[string]any loses. kaudit needs the order twice: a redacted body must
// read like the one Kafka logged, and the seed tests compare key order.
type jsonValue struct {
	kind    byte            // '{', '[' or 0 for a scalar
	members []jsonMember    // kind '{'
	items   []*jsonValue    // kind '['
	scalar  json.RawMessage // kind 0: string, number, bool or null, as JSON
}

type jsonMember struct {
	key string
	val *jsonValue
}

// parseJSON parses one JSON document; trailing data is an error.
func parseJSON(raw []byte) (*jsonValue, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // numbers keep their text (0.0 stays 0.0)
	v, err := parseValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("trailing data after JSON value")
	}
	return v, nil
}

func parseValue(dec *json.Decoder) (*jsonValue, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		v := &jsonValue{kind: byte(t)}
		for dec.More() {
			if t == '{' {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, _ := k.(string) // inside an object the decoder only yields string keys
				val, err := parseValue(dec)
				if err != nil {
					return nil, err
				}
				v.members = append(v.members, jsonMember{key, val})
				continue
			}
			item, err := parseValue(dec)
			if err != nil {
				return nil, err
			}
			v.items = append(v.items, item)
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, err
		}
		return v, nil
	case json.Number:
		return &jsonValue{scalar: json.RawMessage(t)}, nil
	default:
		raw, err := marshalNoEscape(t)
		if err != nil {
			return nil, fmt.Errorf("scalar %v: %w", t, err)
		}
		return &jsonValue{scalar: raw}, nil
	}
}

// marshalNoEscape is json.Marshal without HTML escaping, so <, > and &
// stay as Kafka wrote them.
func marshalNoEscape(v any) (json.RawMessage, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// MarshalJSON writes the value compactly, keys in their original order.
func (v *jsonValue) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	v.write(&b)
	return b.Bytes(), nil
}

func (v *jsonValue) write(b *bytes.Buffer) {
	switch v.kind {
	case '{':
		b.WriteByte('{')
		for i, m := range v.members {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := marshalNoEscape(m.key) // a string always marshals
			b.Write(k)
			b.WriteByte(':')
			m.val.write(b)
		}
		b.WriteByte('}')
	case '[':
		b.WriteByte('[')
		for i, it := range v.items {
			if i > 0 {
				b.WriteByte(',')
			}
			it.write(b)
		}
		b.WriteByte(']')
	default:
		b.Write(v.scalar)
	}
}

// get returns the member named key of an object, or nil.
func (v *jsonValue) get(key string) *jsonValue {
	if v == nil || v.kind != '{' {
		return nil
	}
	for _, m := range v.members {
		if m.key == key {
			return m.val
		}
	}
	return nil
}

// str returns the value of a JSON string and whether v is one.
func (v *jsonValue) str() (string, bool) {
	if v == nil || v.kind != 0 || len(v.scalar) == 0 || v.scalar[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(v.scalar, &s); err != nil {
		return "", false
	}
	return s, true
}

// walk calls fn on v and every value inside it, parents first.
func (v *jsonValue) walk(fn func(*jsonValue)) {
	fn(v)
	for _, m := range v.members {
		m.val.walk(fn)
	}
	for _, it := range v.items {
		it.walk(fn)
	}
}
