package route

import (
	"fmt"
	"strings"
)

// crn is a parsed CRN or CRN pattern: crn://<authority>/<type>=<value>/...
// Values stay escaped as written, so patterns and subjects compare alike.
type crn struct {
	authority string
	elems     []crnElem
}

type crnElem struct{ typ, value string }

func parseCRN(s string) (crn, error) {
	rest, ok := strings.CutPrefix(s, "crn://")
	if !ok {
		return crn{}, fmt.Errorf("%q does not start with crn://", s)
	}
	authority, path, _ := strings.Cut(rest, "/")
	c := crn{authority: authority}
	if path == "" {
		return c, nil
	}
	for _, part := range strings.Split(path, "/") {
		typ, value, ok := strings.Cut(part, "=")
		if !ok || typ == "" || value == "" {
			return crn{}, fmt.Errorf("%q: element %q is not type=value", s, part)
		}
		c.elems = append(c.elems, crnElem{typ, value})
	}
	return c, nil
}

// validatePattern checks a route pattern: `*` may only end a value.
func validatePattern(c crn) error {
	for _, e := range c.elems {
		if i := strings.IndexByte(e.value, '*'); i >= 0 && i != len(e.value)-1 {
			return fmt.Errorf("element %s=%s: '*' may only end a value (prefix wildcard)", e.typ, e.value)
		}
	}
	return nil
}

// matches applies Confluent's rules (FORMATS.md C.2): an empty pattern
// authority matches any authority, a non-empty one only itself; pattern and
// CRN have the same element types in the same order; values match
// literally, by prefix (`cli*`) or anything (`*`).
func (p crn) matches(c crn) bool {
	if p.authority != "" && p.authority != c.authority {
		return false
	}
	if len(p.elems) != len(c.elems) {
		return false
	}
	for i, e := range p.elems {
		if e.typ != c.elems[i].typ || !valueMatches(e.value, c.elems[i].value) {
			return false
		}
	}
	return true
}

func valueMatches(pattern, value string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(value, prefix)
	}
	return pattern == value
}

// moreSpecific reports whether pattern a is more specific than b, for two
// patterns that both match the same CRN: a named authority beats the empty
// one; then, element by element from the left, a literal beats a prefix,
// a longer prefix beats a shorter one, and any prefix beats `*`.
func moreSpecific(a, b crn) bool {
	if (a.authority != "") != (b.authority != "") {
		return a.authority != ""
	}
	for i := range a.elems {
		sa, sb := valueSpecificity(a.elems[i].value), valueSpecificity(b.elems[i].value)
		if sa != sb {
			return sa > sb
		}
	}
	return false
}

// valueSpecificity ranks a pattern value: literals highest, then prefixes
// by length, `*` lowest.
func valueSpecificity(v string) int {
	prefix, wildcard := strings.CutSuffix(v, "*")
	if !wildcard {
		return 1 << 30
	}
	return len(prefix)
}
