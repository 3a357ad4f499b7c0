package httpapi

import "bytes"

// maxFlatFields bounds the fields scanFlatObject takes: its duplicate
// check compares each key with those before it.
const maxFlatFields = 16

// scanFlatObject reads, without encoding/json, the bodies clients send:
// one object whose keys have no escapes and whose values are strings,
// numbers, true, false or null, spaces allowed where JSON allows them.
// It takes such a body only when it is well-formed with each key once,
// and then reads it as decodeTokens would; anything else (a nested
// value, an escaped key, a duplicate, any syntax error) it leaves to
// decodeTokens (ok false), which has the last word on what is refused and
// how. body is valid UTF-8. The fields are appended to into, which may be
// nil.
func scanFlatObject(body []byte, into object) (obj object, ok bool) {
	i := skipSpace(body, 0)
	if i == len(body) || body[i] != '{' {
		return nil, false
	}
	if i = skipSpace(body, i+1); i < len(body) && body[i] == '}' {
		return object{}, skipSpace(body, i+1) == len(body)
	}
	obj = into[:0]
	if cap(obj) == 0 {
		obj = make(object, 0, 4)
	}
	for {
		keyEnd, escaped := scanString(body, i)
		if keyEnd < 0 || escaped || len(obj) == maxFlatFields {
			return nil, false
		}
		key := body[i+1 : keyEnd-1]
		for _, f := range obj {
			if bytes.Equal(f.key, key) {
				return nil, false
			}
		}
		if i = skipSpace(body, keyEnd); i == len(body) || body[i] != ':' {
			return nil, false
		}
		start := skipSpace(body, i+1)
		end := scanScalar(body, start)
		if end < 0 {
			return nil, false
		}
		obj = append(obj, field{key: key, value: body[start:end]})
		switch i = skipSpace(body, end); {
		case i == len(body):
			return nil, false
		case body[i] == ',':
			i = skipSpace(body, i+1)
		case body[i] == '}':
			return obj, skipSpace(body, i+1) == len(body)
		default:
			return nil, false
		}
	}
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanScalar returns the end of the string, number, true, false or null
// at b[i:], or -1 when there is none there.
func scanScalar(b []byte, i int) int {
	if i == len(b) {
		return -1
	}
	switch c := b[i]; {
	case c == '"':
		end, _ := scanString(b, i)
		return end
	case c == '-' || ('0' <= c && c <= '9'):
		return scanNumber(b, i)
	}
	for _, lit := range [...]string{"true", "false", "null"} {
		if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
			return i + len(lit)
		}
	}
	return -1
}

// scanString returns the end (past the closing quote) of the JSON string
// at b[i:] and whether it has escapes, or -1 when there is none there.
func scanString(b []byte, i int) (end int, escaped bool) {
	if i == len(b) || b[i] != '"' {
		return -1, false
	}
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, escaped
		case c < 0x20:
			return -1, false
		case c == '\\':
			escaped = true
			if i++; i == len(b) {
				return -1, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i <= 4 || !hex4(b[i+1:i+5]) {
					return -1, false
				}
				i += 4
			default:
				return -1, false
			}
		}
	}
	return -1, false
}

func hex4(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// scanNumber returns the end of the JSON number at b[i:], or -1 when
// there is none there: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = scanDigits(b, i)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		if j := scanDigits(b, i+1); j > i+1 {
			i = j
		} else {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := scanDigits(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func scanDigits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}
