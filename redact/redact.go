// Package redact keeps secrets out of what flowrun prints: a Redactor
// replaces the values of fields marked secret (registry.Field.Secret)
// and the password of any URL (scheme://user:password@host) in text
// and in writers (stdout, stderr, logs), as a last guard behind the
// connectors' own care.
package redact

import (
	"encoding/json"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/flowrun/flowrun/registry"
)

// Mask replaces a secret.
const Mask = "[redacted]"

// urlPassword matches the password of a URL's userinfo.
var urlPassword = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)[^@\s/]+@`)

// dsnPassword matches password=... in a key=value connection string
// (PostgreSQL's dsn: "host=db user=app password=...").
var dsnPassword = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('[^']*'|[^\s'"]+)`)

// Redactor hides known secret values, URL passwords and password=
// settings. The zero value
// hides URL passwords only; Add teaches it secrets. It is safe for
// concurrent use.
type Redactor struct {
	mu       sync.RWMutex
	replacer *strings.Replacer
	secrets  map[string]bool
}

// Add registers secret values (empty ones are ignored).
func (r *Redactor) Add(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.secrets == nil {
		r.secrets = map[string]bool{}
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		// Also as JSON and Go quoting print it (a " or \ in a password).
		r.secrets[s] = true
		j, _ := json.Marshal(s)
		r.secrets[string(j[1:len(j)-1])] = true
		q := strconv.Quote(s)
		r.secrets[q[1:len(q)-1]] = true
	}
	// Longest first, so a secret holding another is hidden whole.
	all := make([]string, 0, len(r.secrets))
	for s := range r.secrets {
		all = append(all, s)
	}
	sort.Slice(all, func(i, j int) bool { return len(all[i]) > len(all[j]) || len(all[i]) == len(all[j]) && all[i] < all[j] })
	pairs := make([]string, 0, 2*len(all))
	for _, s := range all {
		pairs = append(pairs, s, Mask)
	}
	r.replacer = strings.NewReplacer(pairs...)
}

// String returns s with every secret and URL password masked.
func (r *Redactor) String(s string) string {
	r.mu.RLock()
	rep := r.replacer
	r.mu.RUnlock()
	if rep != nil {
		s = rep.Replace(s)
	}
	if strings.Contains(s, "://") {
		s = urlPassword.ReplaceAllString(s, "${1}"+Mask+"@")
	}
	if strings.Contains(strings.ToLower(s), "password") {
		s = dsnPassword.ReplaceAllString(s, "${1}"+Mask)
	}
	return s
}

// Writer returns w with what is written through it redacted. Each Write
// is redacted on its own: flowrun writes whole lines (diagnostics, log
// records), so a secret is never split across two writes.
func (r *Redactor) Writer(w io.Writer) io.Writer { return &writer{r: r, w: w} }

type writer struct {
	r *Redactor
	w io.Writer
}

func (w *writer) Write(p []byte) (int, error) {
	out := w.r.String(string(p))
	if _, err := io.WriteString(w.w, out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Values returns the values of the fields marked secret in cfg,
// decoded against fields, looking into objects and lists of them.
func Values(fields []registry.Field, cfg registry.Config) []string {
	var out []string
	for _, f := range fields {
		out = append(out, fieldValues(f, cfg[f.Name])...)
	}
	return out
}

func fieldValues(f registry.Field, v any) []string {
	switch v := v.(type) {
	case string:
		if f.Secret {
			return []string{v}
		}
	case registry.Config:
		return Values(f.Fields, v)
	case []any:
		if f.Elem == nil {
			return nil
		}
		var out []string
		for _, item := range v {
			out = append(out, fieldValues(*f.Elem, item)...)
		}
		return out
	case []registry.Entry:
		if f.Elem == nil {
			return nil
		}
		var out []string
		for _, e := range v {
			out = append(out, fieldValues(*f.Elem, e.Value)...)
		}
		return out
	}
	return nil
}
