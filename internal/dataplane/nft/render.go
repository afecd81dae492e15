package nft

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/google/nftables/expr"
)

// maxRendered bounds the elements shown per set: a Maglev table has
// thousands, and its content is tested on its own.
const maxRendered = 24

// render writes a program as text, one line per expression in the style of
// nft's netlink debug output, so that goldens show exactly what the kernel
// is sent.
func render(p program) string {
	var b strings.Builder
	fmt.Fprintf(&b, "chain %s\n", p.Chain)
	if p.DR {
		b.WriteString("  (netdev table)\n")
	}
	if p.Aff != nil {
		b.WriteString(renderSet(*p.Aff))
	}
	if p.Flow != nil {
		b.WriteString(renderSet(*p.Flow))
	}
	for i, r := range p.Rules {
		fmt.Fprintf(&b, "rule %d\n", i)
		for _, s := range r.Anon {
			b.WriteString(renderSet(s))
		}
		for _, e := range r.Exprs {
			fmt.Fprintf(&b, "  [ %s ]\n", renderExpr(e))
		}
	}
	return b.String()
}

func renderSet(s setDef) string {
	var b strings.Builder
	kind := "set"
	if s.IsMap {
		kind = "map"
	}
	var flags []string
	if s.Anonymous {
		flags = append(flags, "anonymous", "constant")
	}
	if s.Dynamic {
		flags = append(flags, "dynamic")
	}
	if s.HasTimeout {
		flags = append(flags, fmt.Sprintf("timeout %s", s.Timeout))
	}
	fmt.Fprintf(&b, "  %s %s { type %s", kind, s.Name, s.Key.Name)
	if s.IsMap {
		fmt.Fprintf(&b, " : %s", s.Data.Name)
	}
	fmt.Fprintf(&b, "; flags %s; %d elements }\n", strings.Join(flags, ","), len(s.Elems))
	for i, e := range s.Elems {
		if i == maxRendered {
			fmt.Fprintf(&b, "    ... %d more\n", len(s.Elems)-i)
			break
		}
		key := hex.EncodeToString(e.Key)
		if s.Key.Name == "integer" {
			// Host byte order, as numgen and jhash write it.
			key = fmt.Sprint(binary.NativeEndian.Uint32(e.Key))
		}
		fmt.Fprintf(&b, "    %s : %s\n", key, hex.EncodeToString(e.Val))
	}
	return b.String()
}

func renderExpr(e expr.Any) string {
	switch e := e.(type) {
	case *expr.Meta:
		return fmt.Sprintf("meta load %d => reg %d", e.Key, e.Register)
	case *expr.Cmp:
		return fmt.Sprintf("cmp op %d reg %d 0x%s", e.Op, e.Register, hex.EncodeToString(e.Data))
	case *expr.Payload:
		if e.OperationType == expr.PayloadWrite {
			return fmt.Sprintf("payload write reg %d => %db @ base %d + %d", e.SourceRegister, e.Len, e.Base, e.Offset)
		}
		return fmt.Sprintf("payload load %db @ base %d + %d => reg %d", e.Len, e.Base, e.Offset, e.DestRegister)
	case *expr.Bitwise:
		return fmt.Sprintf("bitwise reg %d = (reg %d & 0x%s) ^ 0x%s", e.DestRegister, e.SourceRegister, hex.EncodeToString(e.Mask), hex.EncodeToString(e.Xor))
	case *expr.Numgen:
		return fmt.Sprintf("numgen reg %d = inc mod %d", e.Register, e.Modulus)
	case *expr.Hash:
		return fmt.Sprintf("hash reg %d = jhash(reg %d, %d) %% mod %d seed 0x%x", e.DestRegister, e.SourceRegister, e.Length, e.Modulus, e.Seed)
	case *expr.Lookup:
		if e.IsDestRegSet {
			return fmt.Sprintf("lookup reg %d set %s dreg %d", e.SourceRegister, e.SetName, e.DestRegister)
		}
		return fmt.Sprintf("lookup reg %d set %s", e.SourceRegister, e.SetName)
	case *expr.Dynset:
		return fmt.Sprintf("dynset update reg_key %d set %s sreg_data %d timeout %s", e.SrcRegKey, e.SetName, e.SrcRegData, e.Timeout)
	case *expr.Immediate:
		return fmt.Sprintf("immediate reg %d 0x%s", e.Register, hex.EncodeToString(e.Data))
	case *expr.NAT:
		s := fmt.Sprintf("nat dnat family %d addr_min reg %d", e.Family, e.RegAddrMin)
		if e.RegProtoMin != 0 {
			s += fmt.Sprintf(" proto_min reg %d", e.RegProtoMin)
		}
		return s
	case *expr.Dup:
		return fmt.Sprintf("dup sreg_dev %d", e.RegDev)
	case *expr.Verdict:
		return fmt.Sprintf("immediate verdict %d %s", e.Kind, e.Chain)
	}
	return fmt.Sprintf("%T %+v", e, e)
}
