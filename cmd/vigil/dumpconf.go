package main

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// writeModel writes the parsed model for -d as indented JSON, with every
// duration in seconds as keepalived.conf writes it (advert_int 1, 0.05),
// not in the nanoseconds a time.Duration encodes to. The model's own JSON
// (used by the parser's golden files) is left as it is: the model is
// encoded, then each number that came from a time.Duration is rewritten,
// found by walking the model alongside its JSON.
func writeModel(w io.Writer, model any) error {
	raw, err := json.Marshal(model)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tree, err := readTree(dec)
	if err != nil {
		return err
	}
	tree = secondsIn(reflect.ValueOf(model), tree)
	compact, err := json.Marshal(tree)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, compact, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err = w.Write(out.Bytes())
	return err
}

// object is a JSON object that keeps its keys in order.
type object []member

type member struct {
	key string
	val any
}

// MarshalJSON writes the members in order.
func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.key)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(m.val)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// readTree reads one JSON value: object, []any, json.Number, string, bool
// or nil.
func readTree(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			var o object
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, ok := k.(string)
				if !ok {
					return nil, errors.New("dump: object key is not a string")
				}
				v, err := readTree(dec)
				if err != nil {
					return nil, err
				}
				o = append(o, member{key, v})
			}
			_, err := dec.Token() // '}'
			if o == nil {
				o = object{}
			}
			return o, err
		case '[':
			a := []any{}
			for dec.More() {
				v, err := readTree(dec)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			_, err := dec.Token() // ']'
			return a, err
		}
		return nil, errors.New("dump: unexpected delimiter")
	default:
		return t, nil
	}
}

var (
	durationType  = reflect.TypeFor[time.Duration]()
	marshalerType = reflect.TypeFor[json.Marshaler]()
	textType      = reflect.TypeFor[encoding.TextMarshaler]()
)

// secondsIn returns node, the JSON of v, with the numbers that encode a
// time.Duration of v replaced by seconds.
func secondsIn(v reflect.Value, node any) any {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return node
		}
		v = v.Elem()
	}
	t := v.Type()
	if t == durationType {
		return json.Number(strconv.FormatFloat(time.Duration(v.Int()).Seconds(), 'f', -1, 64))
	}
	if t.Implements(marshalerType) || t.Implements(textType) ||
		reflect.PointerTo(t).Implements(marshalerType) || reflect.PointerTo(t).Implements(textType) {
		return node // encoded its own way: not ours to read
	}
	switch v.Kind() {
	case reflect.Struct:
		if o, ok := node.(object); ok {
			structSeconds(v, o)
		}
	case reflect.Slice, reflect.Array:
		if a, ok := node.([]any); ok && len(a) == v.Len() {
			for i := range a {
				a[i] = secondsIn(v.Index(i), a[i])
			}
		}
	case reflect.Map:
		if o, ok := node.(object); ok && v.Type().Key().Kind() == reflect.String {
			for i, m := range o {
				if e := v.MapIndex(reflect.ValueOf(m.key).Convert(v.Type().Key())); e.IsValid() {
					o[i].val = secondsIn(e, m.val)
				}
			}
		}
	}
	return node
}

// structSeconds rewrites the members of o that come from v's fields,
// following embedded structs, whose fields encoding/json promotes.
func structSeconds(v reflect.Value, o object) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			fv := v.Field(i)
			if fv.Kind() == reflect.Pointer {
				if fv.IsNil() {
					continue
				}
				fv = fv.Elem()
			}
			if fv.Kind() == reflect.Struct {
				structSeconds(fv, o)
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		for k := range o {
			if o[k].key == name {
				o[k].val = secondsIn(v.Field(i), o[k].val)
				break
			}
		}
	}
}
