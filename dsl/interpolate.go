package dsl

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Lookup finds an environment variable; os.LookupEnv by default.
type Lookup func(name string) (string, bool)

// maxNesting bounds how deep defaults may nest: ${A:-${B:-${C:-x}}} is 3.
const maxNesting = 8

// Interpolate replaces ${VAR}, ${VAR:-default} and ${file:PATH} in s
// (see readSecretFile); a default may
// itself hold references (${A:-${B:-x}}), up to maxNesting deep, and is
// read only when used. Before a {, $$ writes one $: "$${A}" is the
// literal "${A}" and "$$${A}" is "$" then A's value; a $ anywhere else
// is itself. Every unset variable without a default is reported, joined.
func Interpolate(s string, env Lookup) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	if env == nil {
		env = os.LookupEnv
	}
	in := interpolation{src: s, env: env}
	out, _, errs := in.text(0, 0, false)
	return out, errors.Join(errs...)
}

type interpolation struct {
	src string
	env Lookup
}

// text expands src from i to its end or, inside a default (inDefault),
// to the } that closes it. It returns the text, where it stopped (-1
// when a reference was cut short: the rest is then text) and the
// problems found.
func (in *interpolation) text(i, depth int, inDefault bool) (string, int, []error) {
	var b strings.Builder
	var errs []error
	literalBraces := 0 // { written by an escaped $${, whose } is text too
	for i < len(in.src) {
		c := in.src[i]
		switch {
		case c == '}' && literalBraces > 0:
			literalBraces--
		case c == '}' && inDefault:
			return b.String(), i, errs
		case c == '$':
			j := i
			for j < len(in.src) && in.src[j] == '$' {
				j++
			}
			if j == len(in.src) || in.src[j] != '{' {
				b.WriteString(in.src[i:j])
				i = j
				continue
			}
			dollars := j - i
			b.WriteString(strings.Repeat("$", dollars/2))
			if dollars%2 == 0 {
				b.WriteByte('{')
				literalBraces++
				i = j + 1
				continue
			}
			v, next, refErrs := in.reference(j+1, depth+1)
			b.WriteString(v)
			errs = append(errs, refErrs...)
			if next < 0 { // unterminated or too deep: the rest is text
				b.WriteString(in.src[i:])
				return b.String(), -1, errs
			}
			i = next
			continue
		}
		b.WriteByte(c)
		i++
	}
	return b.String(), i, errs
}

// reference expands the ${...} whose name starts at i, returning its
// value and the index after its }, or -1 when no } closes it.
func (in *interpolation) reference(i, depth int) (string, int, []error) {
	end := i
	for end < len(in.src) && in.src[end] != '}' && !strings.HasPrefix(in.src[end:], ":-") {
		end++
	}
	if end == len(in.src) {
		return "", -1, []error{in.unterminated()}
	}
	name := in.src[i:end]
	var def string
	var defErrs []error
	hasDef := in.src[end] != '}'
	if hasDef {
		if depth >= maxNesting {
			return "", -1, []error{fmt.Errorf("${...} defaults nest more than %d levels deep in %s; set a variable instead", maxNesting, quoteShort(in.src))}
		}
		var stop int
		def, stop, defErrs = in.text(end+2, depth, true)
		switch stop {
		case -1: // already reported
			return "", -1, defErrs
		case len(in.src):
			return "", -1, append(defErrs, in.unterminated())
		}
		end = stop
	}
	next := end + 1
	if path, isFile := strings.CutPrefix(name, filePrefix); isFile {
		v, err := readSecretFile(path)
		switch {
		case err == nil:
			return v, next, nil
		case hasDef:
			return def, next, defErrs
		}
		return "", next, []error{err}
	}
	v, ok := in.env(name)
	switch {
	case !validVarName(name):
		return "", next, []error{fmt.Errorf("invalid variable name %q in ${%s}", name, in.src[i:end])}
	case ok && (v != "" || !hasDef):
		return v, next, nil
	case hasDef:
		return def, next, defErrs
	}
	return "", next, []error{fmt.Errorf("environment variable %s is not set; export it or give a default with ${%s:-value}", name, name)}
}

func (in *interpolation) unterminated() error {
	return fmt.Errorf("unterminated ${ in %s; close it with } or write $${ for a literal", quoteShort(in.src))
}

// quoteShort quotes s, cut to 80 characters.
func quoteShort(s string) string {
	if r := []rune(s); len(r) > 80 {
		return fmt.Sprintf("%q…", string(r[:80]))
	}
	return fmt.Sprintf("%q", s)
}

func validVarName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		if r != '_' && (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return true
}
