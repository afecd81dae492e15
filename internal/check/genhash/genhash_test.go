package genhash

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// pages are the raw responses the test servers give, by path; /vhost
// answers with the Host header it got, to show which one was sent.
var pages = map[string]string{
	"/plain":   "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: 12\r\n\r\nhello world\n",
	"/chunked": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7\r\n world\n\r\n0\r\n\r\n",
	"/nolen":   "HTTP/1.0 200 OK\r\n\r\n" + strings.Repeat("0123456789abcdef", 700),
	"/short":   "HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nhelloEXTRA",
	"/404":     "HTTP/1.0 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found",
}

// serve answers one request per connection with its page, in one write,
// then closes.
func serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return
	}
	host := ""
	for {
		h, err := r.ReadString('\n')
		if err != nil || h == "\r\n" {
			break
		}
		if v, ok := strings.CutPrefix(h, "Host: "); ok {
			host = strings.TrimSpace(v)
		}
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return
	}
	page, ok := pages[f[1]]
	if f[1] == "/vhost" {
		body := "host=" + host + "\n"
		page, ok = fmt.Sprintf("HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body), true
	}
	if !ok {
		page = "HTTP/1.0 500 Oops\r\n\r\n"
	}
	io.WriteString(c, page)
}

func listen(t *testing.T, tlsCfg *tls.Config) string {
	var l net.Listener
	var err error
	if tlsCfg != nil {
		l, err = tls.Listen("tcp", "127.0.0.1:0", tlsCfg)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// testTLS borrows httptest's self-signed certificate.
func testTLS(t *testing.T) *tls.Config {
	s := httptest.NewUnstartedServer(http.NotFoundHandler())
	s.StartTLS()
	cfg := s.TLS.Clone()
	s.Close()
	cfg.NextProtos = nil
	return cfg
}

var responseTime = regexp.MustCompile(`(?m)^Global response time for \[.*\] = \d+ usecs$`)

func TestDifferentialAgainstGenhash(t *testing.T) {
	ref, err := exec.LookPath("genhash")
	if err != nil {
		t.Skip("keepalived's genhash is not installed (apt-get install keepalived); skipping the differential test")
	}
	httpPort := listen(t, nil)
	httpsPort := listen(t, testTLS(t))
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	_, closed, _ := net.SplitHostPort(l.Addr().String())
	l.Close()

	base := func(port string, extra ...string) []string {
		return append([]string{"-s", "127.0.0.1", "-p", port}, extra...)
	}
	cases := [][]string{
		base(httpPort, "-u", "/plain"),
		base(httpPort, "-u", "/chunked"),
		base(httpPort, "-u", "/chunked", "-P", "1.1"),
		base(httpPort, "-u", "/nolen"),
		base(httpPort, "-u", "/short"),
		base(httpPort, "-u", "/404"),
		base(httpPort, "-u", "/vhost"),
		base(httpPort, "-u", "/vhost", "-V", "www.example.com"),
		base(httpPort, "--url=/vhost", "--use-virtualhost", "www.example.com", "-P", "1.0c"),
		base(httpPort, "-u", "/plain", "-v"),
		append([]string{"-S"}, base(httpsPort, "-u", "/plain")...),
		append([]string{"-S"}, base(httpsPort, "-u", "/chunked")...),
		append([]string{"-S", "-I", "-V", "www.example.com"}, base(httpsPort, "-u", "/vhost")...),
		base(closed, "-u", "/plain"),
		{"-s", "127.0.0.1", "-p", httpPort},
		{"-s", "localhost", "-p", httpPort, "-u", "/"},
		{"-s", "127.0.0.1", "-p", "0", "-u", "/"},
		{"-s", "127.0.0.1", "-p", httpPort, "-u", "/", "-P", "2"},
		{"-s", "127.0.0.1", "-p", httpPort, "-u", "/", "-x"},
		{"-s", "127.0.0.1", "-p", httpPort, "-u", "/", "stray"},
		{"-s", "127.0.0.1", "-p"},
		{"-h"},
	}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			cmd := exec.Command(ref, args...)
			cmd.Args[0] = "genhash"
			var rOut, rErr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &rOut, &rErr
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatal("genhash did not finish")
			}
			var vOut, vErr bytes.Buffer
			code := Main("genhash", args, &vOut, &vErr)
			if rc := cmd.ProcessState.ExitCode(); rc != code {
				t.Errorf("exit status: genhash %d, vigil %d", rc, code)
			}
			ro := responseTime.ReplaceAllString(rOut.String(), "Global response time = N")
			vo := responseTime.ReplaceAllString(vOut.String(), "Global response time = N")
			if ro != vo {
				t.Errorf("stdout differs:\n--- genhash\n%s\n--- vigil\n%s", ro, vo)
			}
			if rErr.String() != vErr.String() {
				t.Errorf("stderr differs:\n--- genhash\n%s\n--- vigil\n%s", rErr.String(), vErr.String())
			}
		})
	}
}

func TestParse(t *testing.T) {
	o, ok := Parse([]string{"-Sv", "-s127.0.0.1", "--port=80", "--ur", "/x", "-m", "5", "-t", "3", "-P", "1.1"}, io.Discard)
	if !ok || !o.SSL || !o.Verbose || o.Port != 80 || o.URL != "/x" || o.Fwmark != 5 || o.Timeout != 3*time.Second || o.Protocol != "1.1" {
		t.Errorf("Parse: %+v ok=%v", o, ok)
	}
	var e bytes.Buffer
	if _, ok := Parse([]string{"-s", "127.0.0.1", "-p", "80", "-u", "/", "--use"}, &e); ok || !strings.Contains(e.String(), "Unknown option --use") {
		t.Errorf("ambiguous prefix: ok=%v %q", ok, e.String())
	}
}

func TestDump(t *testing.T) {
	var b bytes.Buffer
	dump(&b, []byte("HTTP/1.0 200 OK\r\nhi"))
	want := "0000  48 54 54 50 2f 31 2e 30 - 20 32 30 30 20 4f 4b 0d   HTTP/1.0 200 OK.\n" +
		"0016  0a 68 69                -                           .hi             \n"
	if b.String() != want {
		t.Errorf("dump:\n%q\nwant\n%q", b.String(), want)
	}
}
