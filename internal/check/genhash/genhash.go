// Package genhash is keepalived's genhash: it fetches one URL as HTTP_GET
// or SSL_GET would and prints the MD5 digest to put in a url block's
// digest. It takes genhash's flags and prints what genhash prints, so that
// scripts written for one work with the other.
package genhash

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	"vigil/internal/check"
)

// defaultTimeout is genhash's when -t is not given: keepalived leaves the
// connection timeout at its largest value, 2^32-1 microseconds.
const defaultTimeout = time.Duration(1<<32-1) * time.Microsecond

// Options is a parsed command line.
type Options struct {
	Server   netip.Addr
	Port     uint16
	URL      string
	SSL      bool
	SNI      bool
	Vhost    string
	Verbose  bool
	Fwmark   uint32
	Protocol string
	Timeout  time.Duration
}

type optSpec struct {
	long  string
	short byte
	arg   bool
}

var optSpecs = []optSpec{
	{"help", 'h', false}, {"verbose", 'v', false}, {"use-ssl", 'S', false}, {"use-sni", 'I', false},
	{"server", 's', true}, {"use-virtualhost", 'V', true}, {"port", 'p', true}, {"url", 'u', true},
	{"fwmark", 'm', true}, {"protocol", 'P', true}, {"timeout", 't', true},
}

// Usage prints genhash's help text for the program name prog.
func Usage(w io.Writer, prog string) {
	fmt.Fprintf(w, "Usage: %s COMMAND [OPTIONS]\n"+
		"Commands:\n"+
		"   -s server-address -p port -u url\n"+
		"   -S -s server-address -p port -u url\n"+
		"   -h\n\n", prog)
	fmt.Fprint(w, "Options:\n"+
		"Either long or short options are allowed.\n"+
		"   --use-ssl         -S       Use SSL connection to remote server.\n"+
		"   --use-sni         -I       Use SNI during SSL handshake (uses virtualhost setting; see -V).\n"+
		"   --server          -s       Use the specified remote server address.\n"+
		"   --port            -p       Use the specified remote server port.\n"+
		"   --url             -u       Use the specified remote server url.\n"+
		"   --use-virtualhost -V       Use the specified virtualhost in GET query.\n"+
		"   --verbose         -v       Use verbose mode output.\n"+
		"   --help            -h       Display this short inlined help screen.\n"+
		"   --fwmark          -m       Use the specified FW mark.\n"+
		"   --protocol        -P       Use the specified HTTP protocol - '1.0', 1.0c', '1.1'.\n"+
		"                                1.0c means 1.0 with 'Connection: close'\n"+
		"   --timeout         -t       Timeout in seconds\n")
}

// Parse reads genhash's command line the way getopt_long does (bundled
// short options, attached or separate values, unique prefixes of long
// options, options and arguments in any order). Messages for the operator
// go to stderr; ok is false when genhash would print its usage and exit 1.
func Parse(args []string, stderr io.Writer) (o Options, ok bool) {
	o = Options{Protocol: "1.0", Timeout: defaultTimeout}
	if len(args) < 2 {
		return o, false
	}
	var have struct{ server, port, url bool }
	bad := false
	var extra []string
	set := func(short byte, val string) bool {
		switch short {
		case 'h':
			bad = true
		case 'v':
			o.Verbose = true
		case 'S':
			o.SSL = true
		case 'I':
			o.SNI = true
		case 's':
			a, err := netip.ParseAddr(val)
			if err != nil {
				fmt.Fprintf(stderr, "server should be an IP, not %s\n", val)
				return false
			}
			o.Server, have.server = a, true
		case 'V':
			o.Vhost = val
		case 'p':
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n <= 0 || n > 65535 {
				fmt.Fprintf(stderr, "invalid port number '%s'\n", val)
				return false
			}
			o.Port, have.port = uint16(n), true
		case 'u':
			o.URL, have.url = val, true
		case 'm':
			s := strings.TrimLeft(val, " \t")
			n, err := strconv.ParseUint(s, 10, 32)
			if err != nil || strings.HasPrefix(s, "-") {
				fmt.Fprintf(stderr, "invalid fwmark '%s'\n", val)
				return false
			}
			o.Fwmark = uint32(n)
		case 'P':
			switch val {
			case "1.0":
				o.Protocol = "1.0"
			case "1.0c", "1.0C":
				o.Protocol = "1.0C"
			case "1.1":
				o.Protocol = "1.1"
			default:
				fmt.Fprintf(stderr, "invalid HTTP protocol version '%s'\n", val)
				return false
			}
		case 't':
			s := strings.TrimLeft(val, " \t")
			n, err := strconv.ParseUint(s, 10, 32)
			if err != nil || s == "" {
				fmt.Fprintf(stderr, "invalid timeout '%s'\n", val)
				return false
			}
			o.Timeout = time.Duration(n) * time.Second
		}
		return true
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			extra = append(extra, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			var match *optSpec
			exact := false
			n := 0
			for j := range optSpecs {
				if optSpecs[j].long == name {
					match, exact = &optSpecs[j], true
					break
				}
				if strings.HasPrefix(optSpecs[j].long, name) {
					match = &optSpecs[j]
					n++
				}
			}
			if match == nil || (!exact && n > 1) {
				fmt.Fprintf(stderr, "Unknown option %s\n", a)
				bad = true
				continue
			}
			if match.arg && !hasVal {
				if i+1 >= len(args) {
					fmt.Fprintf(stderr, "Missing parameter for option --%s\n", match.long)
					bad = true
					continue
				}
				i++
				val = args[i]
			}
			if !set(match.short, val) {
				return o, false
			}
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for k := 1; k < len(a); k++ {
				var spec *optSpec
				for j := range optSpecs {
					if optSpecs[j].short == a[k] {
						spec = &optSpecs[j]
					}
				}
				if spec == nil {
					fmt.Fprintf(stderr, "Unknown option -%c\n", a[k])
					bad = true
					continue
				}
				val := ""
				if spec.arg {
					if k+1 < len(a) {
						val = a[k+1:]
					} else if i+1 < len(args) {
						i++
						val = args[i]
					} else {
						fmt.Fprintf(stderr, "Missing parameter for option -%c\n", a[k])
						bad = true
						break
					}
					k = len(a)
				}
				if !set(spec.short, val) {
					return o, false
				}
			}
		default:
			extra = append(extra, a)
		}
	}
	if bad {
		return o, false
	}
	if len(extra) > 0 {
		fmt.Fprintf(stderr, "Unexpected argument(s): %s\n", strings.Join(extra, " "))
		return o, false
	}
	return o, have.server && have.port && have.url
}

// Main runs genhash with the arguments after the program name prog and
// returns its exit status: 1 for a usage error, otherwise 0, whatever the
// server did (genhash prints what went wrong and still exits 0).
func Main(prog string, args []string, stdout, stderr io.Writer) int {
	o, ok := Parse(args, stderr)
	if !ok {
		Usage(stderr, prog)
		return 1
	}
	start := time.Now()
	Fetch(context.Background(), o, stdout, stderr)
	if o.Verbose {
		fmt.Fprintf(stdout, "\nGlobal response time for [%s] = %d usecs\n", o.URL, time.Since(start).Microseconds())
	}
	return 0
}

// Fetch gets the URL and prints the digest, or genhash's message for what
// failed.
func Fetch(ctx context.Context, o Options, stdout, stderr io.Writer) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	c := check.Conn{Target: netip.AddrPortFrom(o.Server, o.Port), Fwmark: o.Fwmark}
	conn, err := c.NetDialer("tcp").DialContext(ctx, "tcp", c.Target.String())
	if err != nil {
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			fmt.Fprintln(stdout, "Timeout connecting")
		case errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH):
			fmt.Fprintln(stdout, "HTTP_CHECK - network unreachable")
		default:
			fmt.Fprintln(stdout, "Connection failed")
		}
		return
	}
	defer conn.Close()
	if o.SSL {
		cfg := &tls.Config{InsecureSkipVerify: true}
		if o.SNI {
			cfg.ServerName = o.Vhost
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			fmt.Fprintln(stdout, "SSL handshake/communication error connecting to")
			return
		}
		conn = tc
	}
	req := check.HTTPRequest{Path: o.URL, Protocol: o.Protocol, Host: o.Vhost, Target: c.Target}
	resp, err := check.DoHTTP(ctx, conn, req.Bytes(), 1<<30)
	if err != nil && resp == nil {
		fmt.Fprintln(stdout, "Cannot send get request to")
		return
	}
	if o.Verbose && resp.Header != nil {
		fmt.Fprint(stdout, delim("    HTTP Header Buffer    "))
		dump(stdout, resp.Header)
		fmt.Fprint(stdout, delim(" HTTP Header Ascii Buffer "))
		fmt.Fprintf(stdout, "%s\n", resp.Header)
		if len(resp.Body) > 0 {
			fmt.Fprint(stdout, delim("        HTML Buffer        "))
			dump(stdout, resp.Body)
		}
	}
	switch {
	case errors.Is(err, check.ErrNoData):
		fmt.Fprintln(stderr, "no data received from remote webserver")
		return
	case errors.Is(err, check.ErrReadTimeout) && resp.Received == 0:
		fmt.Fprintln(stdout, "Timeout WEB read")
		return
	case errors.Is(err, check.ErrReadTimeout):
		fmt.Fprintln(stdout, "Timeout HTTP read")
		return
	case err != nil:
		fmt.Fprintln(stdout, "Read error with")
		return
	}
	if o.Verbose {
		fmt.Fprint(stdout, "\n"+delim("    HTML hash resulting    "))
		dump(stdout, resp.Digest[:])
		fmt.Fprint(stdout, delim(" HTML hash final resulting "))
	}
	fmt.Fprintf(stdout, "%x\n", resp.Digest)
}

func delim(title string) string {
	return "-----------------------[" + title + "]-----------------------\n"
}

// dump prints b as keepalived's dump_buffer does: a decimal offset, 16
// bytes in hex with a dash after the eighth, then the printable ones.
func dump(w io.Writer, b []byte) {
	var sb strings.Builder
	n := len(b)
	c := (n + 15) / 16 * 16
	for i := 0; i < c; i++ {
		if i%16 == 0 {
			fmt.Fprintf(&sb, "%04d ", i&0xffff)
		}
		if i < n {
			fmt.Fprintf(&sb, "%3.2x", b[i])
		} else {
			sb.WriteString("   ")
		}
		if (i+1)%8 == 0 {
			if (i+1)%16 != 0 {
				sb.WriteString(" -")
				continue
			}
			sb.WriteString("   ")
			for j := i - 15; j <= i; j++ {
				switch {
				case j >= n:
					sb.WriteByte(' ')
				case b[j] >= 0x20 && b[j] <= 0x7e:
					sb.WriteByte(b[j])
				default:
					sb.WriteByte('.')
				}
			}
			sb.WriteByte('\n')
		}
	}
	io.WriteString(w, sb.String())
}
