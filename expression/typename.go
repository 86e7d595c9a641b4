package expression

import (
	"reflect"

	"github.com/flowrun/flowrun/message"
)

// TypeName names v's type as a flow's author knows it: null, bool,
// number, string, list or object; never a Go type.
func TypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string, []byte:
		return "string"
	case bool:
		return "bool"
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return "number"
	case []any:
		return "list"
	case map[string]any, *message.Fields:
		return "object"
	}
	switch reflect.TypeOf(v).Kind() {
	case reflect.Slice, reflect.Array:
		return "list"
	case reflect.Map, reflect.Struct, reflect.Pointer:
		return "object"
	case reflect.Func:
		return "function"
	}
	return "value"
}

// A returns TypeName(v) with its article: "a list", "an object".
func A(v any) string { return article(TypeName(v)) }

func article(name string) string {
	switch name {
	case "null":
		return name
	case "object", "integer":
		return "an " + name
	}
	return "a " + name
}
