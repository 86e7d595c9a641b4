package message

import (
	"bytes"
	"slices"
)

// decodedObject writes m, an object decode built from raw[sp], by walking
// the raw object: each member still in m keeps its key's bytes, its place
// and the spacing around it, and its value is written by value (so an
// unchanged value is its raw bytes again); members m no longer has are
// left out; members m gained follow, sorted. An object the flow did not
// change comes out byte for byte as it went in.
func (e encoder) decodedObject(b []byte, m map[string]any, sp span) ([]byte, error) {
	raw := e.o.raw()[:sp.end]
	d := jsonDecoder{data: raw, pos: int(sp.off) + 1}
	b = append(b, '{')
	space := d.pos
	d.skipSpace()
	b = appendSpacing(b, raw[space:d.pos])
	var seen keySet
	written, from := false, d.pos // from: where the bytes before the next member start
	for raw[d.pos] != '}' {
		keyStart := d.pos
		key, err := d.str()
		if err != nil {
			return b, err
		}
		d.skipSpace()
		d.pos++ // ':'
		d.skipSpace()
		valStart := d.pos
		if err := d.skip(0); err != nil {
			return b, err
		}
		valEnd := d.pos
		d.skipSpace()
		if raw[d.pos] == ',' {
			d.pos++
			d.skipSpace()
		}
		// A key read twice was decoded as its last value: write it once, first.
		if v, ok := m[key]; ok && seen.add(key) {
			if written {
				b = appendSpacing(b, raw[from:valStart]) // the comma, the key, the colon
			} else {
				b = appendSpacing(b, raw[keyStart:valStart])
			}
			if b, err = e.value(b, v); err != nil {
				return b, err
			}
			written = true
		}
		from = valEnd
	}
	if seen.len() < len(m) {
		var err error
		if b, err = e.addedMembers(b, m, &seen, written); err != nil {
			return b, err
		}
	}
	return appendSpacing(b, raw[from:d.pos+1]), nil // the spacing and the '}'
}

// addedMembers writes the members of m that the raw object did not have.
func (e encoder) addedMembers(b []byte, m map[string]any, seen *keySet, written bool) ([]byte, error) {
	added := make([]string, 0, len(m)-seen.len())
	for k := range m {
		if !seen.has(k) {
			added = append(added, k)
		}
	}
	slices.Sort(added)
	for _, k := range added {
		if written {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		var err error
		if b, err = e.value(b, m[k]); err != nil {
			return b, err
		}
		written = true
	}
	return b, nil
}

// decodedList is decodedObject for a list: each element is written by
// value in the raw list's spacing.
func (e encoder) decodedList(b []byte, l []any, sp span) ([]byte, error) {
	raw := e.o.raw()[:sp.end]
	d := jsonDecoder{data: raw, pos: int(sp.off) + 1}
	b = append(b, '[')
	space := d.pos
	d.skipSpace()
	b = appendSpacing(b, raw[space:d.pos])
	from, i := d.pos, 0
	for ; raw[d.pos] != ']'; i++ {
		valStart := d.pos
		if err := d.skip(0); err != nil {
			return b, err
		}
		valEnd := d.pos
		d.skipSpace()
		if raw[d.pos] == ',' {
			d.pos++
			d.skipSpace()
		}
		if i < len(l) {
			if i > 0 {
				b = appendSpacing(b, raw[from:valStart])
			}
			var err error
			if b, err = e.value(b, l[i]); err != nil {
				return b, err
			}
		}
		from = valEnd
	}
	for ; i < len(l); i++ { // decode built the list; only a longer one could get here
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = e.value(b, l[i]); err != nil {
			return b, err
		}
	}
	return appendSpacing(b, raw[from:d.pos+1]), nil
}

// appendSpacing appends the bytes between two values (spaces, a comma or
// colon, a key) as they are, unless they break the line: a payload read
// spread over lines is written on one, so a line sink keeps one message
// a line. A line break can only be spacing: a JSON string holds none.
func appendSpacing(b, sep []byte) []byte {
	if !bytes.ContainsAny(sep, "\r\n") {
		return append(b, sep...)
	}
	inString, escaped := false, false
	for _, c := range sep {
		switch {
		case escaped:
			escaped = false
		case inString:
			escaped = c == '\\'
			inString = c != '"'
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			continue
		case c == '"':
			inString = true
		}
		b = append(b, c)
	}
	return b
}

// keySet is the keys of an object seen so far: an array while few, a
// map once many, so an object of many keys costs O(n), and one of a few
// costs no allocation.
type keySet struct {
	small [16]string
	n     int
	set   map[string]struct{}
}

func (s *keySet) len() int { return s.n + len(s.set) }

func (s *keySet) has(k string) bool {
	for _, seen := range s.small[:s.n] {
		if seen == k {
			return true
		}
	}
	_, ok := s.set[k]
	return ok
}

// add adds k and reports whether it was new.
func (s *keySet) add(k string) bool {
	switch {
	case s.has(k):
		return false
	case s.n < len(s.small):
		s.small[s.n] = k
		s.n++
	default:
		if s.set == nil {
			s.set = make(map[string]struct{}, 32)
		}
		s.set[k] = struct{}{}
	}
	return true
}
