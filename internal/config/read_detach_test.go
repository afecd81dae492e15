package config

import (
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// oneFileFS serves one file, keepalived.conf, whose bytes are the
// caller's (ReadFile does not copy them), so that a test knows where the
// text the reader parses lies in memory.
type oneFileFS struct{ data []byte }

func (f oneFileFS) Open(name string) (fs.File, error) { return nil, fs.ErrNotExist }
func (f oneFileFS) ReadFile(name string) ([]byte, error) {
	if name != "keepalived.conf" {
		return nil, fs.ErrNotExist
	}
	return f.data, nil
}

// inText lists the strings reachable from v whose bytes lie in [lo, hi).
func inText(v reflect.Value, path string, lo, hi uintptr, seen map[uintptr]bool, out *[]string) {
	switch v.Kind() {
	case reflect.String:
		s := v.String()
		if len(s) > 0 {
			p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
			if p >= lo && p < hi {
				*out = append(*out, path+"="+s)
			}
		}
	case reflect.Pointer:
		if v.IsNil() || seen[v.Pointer()] {
			return
		}
		seen[v.Pointer()] = true
		inText(v.Elem(), path, lo, hi, seen, out)
	case reflect.Interface:
		if !v.IsNil() {
			inText(v.Elem(), path, lo, hi, seen, out)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			return
		}
		for i := range v.NumField() {
			inText(v.Field(i), path+"."+v.Type().Field(i).Name, lo, hi, seen, out)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			inText(v.Index(i), fmt.Sprintf("%s[%d]", path, i), lo, hi, seen, out)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			inText(it.Key(), path+"{k}", lo, hi, seen, out)
			inText(it.Value(), path+"{v}", lo, hi, seen, out)
		}
	}
}

// TestModelKeepsNoText checks that a loaded configuration holds no
// substring of its file's text (which would keep the whole text in memory
// for as long as the configuration runs): every string reachable from
// the Config, for the LVS compatibility sample (every LVS keyword) and a
// generated file of the benchmarks' shape.
func TestModelKeepsNoText(t *testing.T) {
	all, err := os.ReadFile("testdata/compat_lvs_all.conf")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("global_defs {\n    router_id checkbench\n}\n")
	for v := range 3 {
		fmt.Fprintf(&b, "virtual_server 10.200.0.%d 80 {\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n", v+1)
		for i := range 3 {
			fmt.Fprintf(&b, "    real_server 10.201.%d.%d 8080 {\n        weight 1\n        TCP_CHECK {\n            connect_timeout 3\n        }\n    }\n", v, i+1)
		}
		b.WriteString("}\n")
	}
	for name, data := range map[string][]byte{"compat_lvs_all.conf": all, "generated": []byte(b.String())} {
		lo := uintptr(unsafe.Pointer(&data[0]))
		cfg, diags := Load("keepalived.conf", LoadOptions{ReadOptions: ReadOptions{FS: oneFileFS{data}}})
		if diags.HasErrors() {
			t.Fatalf("%s: %v", name, diags.Errors())
		}
		if len(cfg.VirtualServers) == 0 {
			t.Fatalf("%s: no virtual server loaded", name)
		}
		var out []string
		inText(reflect.ValueOf(cfg), "cfg", lo, lo+uintptr(len(data)), map[uintptr]bool{}, &out)
		for _, o := range out {
			t.Errorf("%s: %s is a substring of the file's text", name, o)
		}
	}
}
