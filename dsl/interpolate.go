package dsl

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Lookup finds an environment variable; os.LookupEnv by default.
type Lookup func(name string) (string, bool)

// Interpolate replaces ${VAR} and ${VAR:-default} in s. "$${" writes a
// literal "${". Every unset variable without a default is reported, joined.
func Interpolate(s string, env Lookup) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	if env == nil {
		env = os.LookupEnv
	}
	var b strings.Builder
	var errs []error
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		if i > 0 && s[i-1] == '$' { // escaped: $${ -> ${
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			errs = append(errs, fmt.Errorf("unterminated ${ in %q; close it with } or write $${ for a literal", s))
			b.WriteString(s[i:])
			break
		}
		expr := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(expr, ":-")
		switch v, ok := env(name); {
		case !validVarName(name):
			errs = append(errs, fmt.Errorf("invalid variable name %q in ${%s}", name, expr))
		case ok && (v != "" || !hasDef):
			b.WriteString(v)
		case hasDef:
			b.WriteString(def)
		default:
			errs = append(errs, fmt.Errorf("environment variable %s is not set; export it or give a default with ${%s:-value}", name, name))
		}
		s = s[i+end+1:]
	}
	return b.String(), errors.Join(errs...)
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
