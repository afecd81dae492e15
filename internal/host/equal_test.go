package host

import (
	"net"
	"net/netip"
	"reflect"
	"testing"
)

// setField gives the field f of v (a pointer to a struct) a non-zero value
// of its type, allocating for pointers and slices. It reports false for a
// kind it does not know, so a new kind of field fails the test rather than
// going unchecked.
func setField(f reflect.Value) bool {
	switch f.Kind() {
	case reflect.Bool:
		f.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		f.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		f.SetUint(7)
	case reflect.String:
		f.SetString("x")
	case reflect.Pointer:
		p := reflect.New(f.Type().Elem())
		if p.Elem().Kind() == reflect.Struct {
			p.Elem().Field(0).SetUint(7)
		} else if !setField(p.Elem()) {
			return false
		}
		f.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(f.Type(), 1, 1)
		if s.Index(0).Kind() == reflect.Struct {
			s.Index(0).Field(1).SetString("x") // Nexthop.Dev
		} else if !setField(s.Index(0)) {
			return false
		}
		f.Set(s)
	case reflect.Struct:
		switch f.Interface().(type) {
		case netip.Addr:
			f.Set(reflect.ValueOf(netip.MustParseAddr("10.9.9.9")))
		case netip.Prefix:
			f.Set(reflect.ValueOf(netip.MustParsePrefix("10.9.9.0/24")))
		case RouteMetrics:
			f.Set(reflect.ValueOf(RouteMetrics{MTU: 1400}))
		default:
			return false
		}
	default:
		return false
	}
	return true
}

// TestEqualCoversEveryField changes each field of a route, a rule and a
// VMAC in turn: Equal must see every change (a field added later and
// forgotten in Equal fails here), and must see none between two copies that
// hold equal values behind different pointers.
func TestEqualCoversEveryField(t *testing.T) {
	cases := []struct {
		name  string
		zero  func() any
		equal func(a, b any) bool
	}{
		{"Route", func() any { return &Route{} }, func(a, b any) bool { return a.(*Route).Equal(*b.(*Route)) }},
		{"Rule", func() any { return &Rule{} }, func(a, b any) bool { return a.(*Rule).Equal(*b.(*Rule)) }},
		{"VMAC", func() any { return &VMAC{} }, func(a, b any) bool { return a.(*VMAC).Equal(*b.(*VMAC)) }},
	}
	for _, c := range cases {
		typ := reflect.TypeOf(c.zero()).Elem()
		for i := range typ.NumField() {
			name := c.name + "." + typ.Field(i).Name
			a, b, b2 := c.zero(), c.zero(), c.zero()
			if !setField(reflect.ValueOf(b).Elem().Field(i)) || !setField(reflect.ValueOf(b2).Elem().Field(i)) {
				t.Errorf("%s: the test cannot set a field of this kind; teach setField", name)
				continue
			}
			if c.equal(a, b) || c.equal(b, a) {
				t.Errorf("%s: a change is not seen by Equal", name)
			}
			if !c.equal(b, b2) {
				t.Errorf("%s: equal values (behind different pointers) are not Equal", name)
			}
		}
	}
}

// TestEqualValues is Equal on descriptions as the configuration produces
// them: the same line twice is Equal, pointers and all.
func TestEqualValues(t *testing.T) {
	u := func(v uint32) *uint32 { return &v }
	r1 := Rule{Family: 4, Priority: u(100), FWMark: 1, FWMask: u(0xff), Action: "table", Table: 100}
	r2 := Rule{Family: 4, Priority: u(100), FWMark: 1, FWMask: u(0xff), Action: "table", Table: 100}
	if !r1.Equal(r2) {
		t.Errorf("rules with the same preference and fwmask are not Equal")
	}
	r2.FWMask = u(0xf0)
	if r1.Equal(r2) {
		t.Errorf("rules with other fwmasks are Equal")
	}
	m1, m2 := net.HardwareAddr{0, 0, 0x5e, 0, 1, 9}, net.HardwareAddr{0, 0, 0x5e, 0, 1, 9}
	if !(VMAC{Name: "vrrp.9", MAC: m1}).Equal(VMAC{Name: "vrrp.9", MAC: m2}) {
		t.Errorf("VMACs with the same MAC are not Equal")
	}
	n := []Nexthop{{Dev: "eth0", Weight: 1}}
	if !(Route{Nexthops: n}).Equal(Route{Nexthops: []Nexthop{{Dev: "eth0", Weight: 1}}}) {
		t.Errorf("routes with the same nexthops are not Equal")
	}
}
