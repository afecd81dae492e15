package check

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"vigil/internal/config"
	"vigil/internal/notify/script"
	"vigil/internal/track"
)

// keepalived's defaults where the configuration says nothing.
const (
	DefaultDelayLoop        = 60 * time.Second
	DefaultConnectTimeout   = 5 * time.Second
	DefaultDelayBeforeRetry = time.Second
	// HTTPDelayBeforeRetry is HTTP_GET's and SSL_GET's own default.
	HTTPDelayBeforeRetry = 3 * time.Second
	DefaultRetry         = 1
	// DNSRetry and MiscRetry are DNS_CHECK's and MISC_CHECK's own.
	DNSRetry  = 3
	MiscRetry = 0
)

// BuildOptions are what Build needs besides the model.
type BuildOptions struct {
	// Dialer replaces the system dialer of every network checker (tests).
	Dialer Dialer
	Log    *slog.Logger
	// ProblemsOnly asks for the errors alone (a configuration test): the
	// checks are resolved and checked as always, but not keyed or merged
	// into the Plan, which a file of thousands of checkers would spend
	// most of the test on.
	ProblemsOnly bool
	// Prev is the plan of the running configuration, if any: a virtual
	// server without checkers that is the very value Prev was built from
	// (config.Loader hands out the same value for an unchanged block)
	// takes Prev's specs of its real servers, which depend on nothing
	// else, instead of new ones.
	Prev *Plan
}

// Build turns the LVS side of a configuration into a Plan: the one place
// where checker blocks become probes. Defaults are resolved here as
// keepalived resolves them (checker, then real server, then virtual
// server, then the kind's own default). A checker that cannot run (a
// script that cannot be used, an unreadable certificate, no port to
// connect to) is left out with an error naming its file:line, which is
// what keepalived does: its real server is judged by its other checkers.
// Identical checks are merged into one Probe. Build reads files (scripts,
// certificates) but writes nothing, so that a configuration test can use it.
func Build(cfg *config.Config, opts BuildOptions) (*Plan, []error) {
	b := &builder{cfg: cfg, opts: opts, plan: &Plan{}, byKey: map[ProbeKey]int{}}
	if opts.Log == nil {
		b.opts.Log = slog.New(slog.DiscardHandler)
	}
	b.policy = script.PolicyFrom(cfg.Global)
	b.plan.InitNotifies = cfg.Global.RSInitNotifies
	b.plan.vss = make([]*config.VirtualServer, 0, len(cfg.VirtualServers))
	b.plan.vsFirst = make([]int, 0, len(cfg.VirtualServers))
	for i, vs := range cfg.VirtualServers {
		b.plan.vss = append(b.plan.vss, vs)
		b.plan.vsFirst = append(b.plan.vsFirst, len(b.plan.Servers))
		if b.reuse(i, vs) {
			continue
		}
		// The names are the virtual server's, shared by its real
		// servers: made once (a reload builds the whole plan again).
		b.vsName, b.vsProto = "", ProtoName(vs)
		if !opts.ProblemsOnly {
			b.vsName = VSName(vs)
		}
		for _, rs := range vs.RealServers {
			b.server(vs, rs)
		}
	}
	return b.plan, b.errs
}

// reuse appends the specs Prev has for vs, the i-th virtual server of
// the configuration, when vs has no checkers and is a value Prev was
// built from; it tells whether it did.
func (b *builder) reuse(i int, vs *config.VirtualServer) bool {
	prev := b.opts.Prev
	if prev == nil || b.opts.ProblemsOnly {
		return false
	}
	for _, rs := range vs.RealServers {
		if len(rs.Checkers) > 0 {
			return false
		}
	}
	j := -1
	if i < len(prev.vss) && prev.vss[i] == vs {
		j = i
	} else {
		if b.prevIdx == nil {
			b.prevIdx = make(map[*config.VirtualServer]int, len(prev.vss))
			for k, v := range prev.vss {
				b.prevIdx[v] = k
			}
		}
		k, ok := b.prevIdx[vs]
		if !ok {
			return false
		}
		j = k
	}
	end := len(prev.Servers)
	if j+1 < len(prev.vsFirst) {
		end = prev.vsFirst[j+1]
	}
	specs := prev.Servers[prev.vsFirst[j]:end]
	if len(specs) != len(vs.RealServers) {
		return false
	}
	b.plan.Servers = append(b.plan.Servers, specs...)
	b.reused += len(specs)
	return true
}

type builder struct {
	cfg    *config.Config
	opts   BuildOptions
	policy script.Policy
	plan   *Plan
	byKey  map[ProbeKey]int
	errs   []error
	// cfgs are the probes' machine configurations, one record for each
	// distinct one (Probe.Machine).
	cfgs configs

	// prevIdx finds a virtual server in Prev when it is not at the same
	// index; reused counts the specs taken from Prev.
	prevIdx map[*config.VirtualServer]int
	reused  int
	// vsName and vsProto are the names of the virtual server whose real
	// servers are being built.
	vsName, vsProto string

	tlsDone bool
	tlsCfg  *tls.Config
	tlsErr  error
}

func (b *builder) errorf(pos config.Pos, format string, args ...any) {
	b.errs = append(b.errs, fmt.Errorf("%s: %s", pos, fmt.Sprintf(format, args...)))
}

func (b *builder) server(vs *config.VirtualServer, rs *config.RealServer) {
	spec := &ServerSpec{Config: ServerConfig{
		Key:        ServerKey{VS: b.vsName, RS: netip.AddrPortFrom(rs.Addr, rs.Port)},
		Weight:     int(rs.Weight),
		NotifyUp:   rs.NotifyUp,
		NotifyDown: rs.NotifyDown,
		Omega:      vs.Omega,
		Proto:      b.vsProto,
	}}
	si := len(b.plan.Servers)
	b.plan.Servers = append(b.plan.Servers, spec)
	rsTiming := rs.Timing.Or(vs.Timing)
	for _, c := range rs.Checkers {
		if c.Kind == config.CheckBFD {
			// Parsed and warned about by config (BFD is not implemented);
			// keepalived's real server then depends on its other checkers.
			continue
		}
		p, alpha, err := b.probe(vs, rs, rsTiming, c)
		if err != nil {
			// keepalived 2.2.7 drops such a checker (a MISC_CHECK whose
			// script is missing) after alpha has marked it failed, and
			// nothing takes the mark back: under alpha its real server
			// stays down; without, the others judge it. A slot that no
			// check feeds keeps that initial state.
			alpha = checkerAlpha(vs, rs, c)
			if alpha {
				b.errorf(c.Pos, "%s: %v; the checker is not run, and with alpha it holds real server %s down", c.Kind, err, RSName(netip.AddrPortFrom(rs.Addr, rs.Port)))
			} else {
				b.errorf(c.Pos, "%s: %v; the checker is not run, real server %s is judged by its other checkers", c.Kind, err, RSName(netip.AddrPortFrom(rs.Addr, rs.Port)))
			}
			if alpha && !b.opts.ProblemsOnly {
				spec.Alpha = append(spec.Alpha, true)
				spec.Config.Checkers = append(spec.Config.Checkers, c.Kind)
			}
			continue
		}
		if b.opts.ProblemsOnly {
			continue
		}
		slot := len(spec.Alpha)
		spec.Alpha = append(spec.Alpha, alpha)
		spec.Config.Checkers = append(spec.Config.Checkers, c.Kind)
		if i, ok := b.byKey[p.Key]; ok {
			b.plan.Probes[i].Feeds = append(b.plan.Probes[i].Feeds, Feed{Server: si, Checker: slot})
			continue
		}
		p.Feeds = []Feed{{Server: si, Checker: slot}}
		b.byKey[p.Key] = len(b.plan.Probes)
		b.plan.Probes = append(b.plan.Probes, p)
	}
}

// ProbeKey is the identity of a check (Probe.Key, Probe.Identity): a
// digest (16 bytes of SHA-256) of the JSON of every resolved setting that
// changes what is checked or when (NewProbeKey). Keys are only compared,
// and a plan keeps two per check for as long as it runs: held by value,
// they cost no allocation of their own (as strings they were two 16-byte
// objects per check), and they are not the JSON itself (about 300 bytes
// for a TCP_CHECK, 3 MB for 10,000).
type ProbeKey [16]byte

// NewProbeKey is the key of parts, plain values that encode as JSON.
func NewProbeKey(parts ...any) ProbeKey {
	j, err := json.Marshal(parts)
	if err != nil {
		panic(err) // only plain values are passed
	}
	sum := sha256.Sum256(j)
	return ProbeKey(sum[:16])
}

func (b *builder) probe(vs *config.VirtualServer, rs *config.RealServer, rsTiming config.Timing, c *config.Checker) (*Probe, bool, error) {
	t := c.Timing.Or(rsTiming)
	tm := Timing{DelayLoop: DefaultDelayLoop, Timeout: DefaultConnectTimeout, Retry: DefaultRetry, DelayBeforeRetry: DefaultDelayBeforeRetry}
	if t.DelayLoop != nil {
		tm.DelayLoop = *t.DelayLoop
	}
	if t.ConnectTimeout != nil {
		tm.Timeout = *t.ConnectTimeout
	}
	switch c.Kind {
	case config.CheckDNS:
		tm.Retry, tm.DelayBeforeRetry = DNSRetry, tm.DelayLoop
	case config.CheckMisc:
		tm.Retry = MiscRetry
	case config.CheckHTTP, config.CheckSSL:
		tm.DelayBeforeRetry = HTTPDelayBeforeRetry
	}
	if t.Retry != nil {
		tm.Retry = int(*t.Retry)
	}
	if t.DelayBeforeRetry != nil {
		tm.DelayBeforeRetry = *t.DelayBeforeRetry
	}
	tm.Warmup = tm.DelayLoop
	if t.Warmup != nil {
		tm.Warmup = *t.Warmup
	}
	alpha := checkerAlpha(vs, rs, c)
	conn := Conn{Target: netip.AddrPortFrom(rs.Addr, rs.Port), BindTo: c.BindTo, BindPort: c.BindPort, BindIf: c.BindIf, Fwmark: c.Fwmark}
	if c.ConnectIP.IsValid() {
		conn.Target = netip.AddrPortFrom(c.ConnectIP, conn.Target.Port())
	}
	if c.ConnectPort != 0 {
		conn.Target = netip.AddrPortFrom(conn.Target.Addr(), c.ConnectPort)
	}
	mc := MachineConfig{
		Timing:         tm,
		Steps:          1,
		Alpha:          alpha,
		LogAllFailures: c.LogAllFailures || b.cfg.Global.CheckerLogAllFailures,
	}
	var name string
	if !b.opts.ProblemsOnly {
		name = string(c.Kind) + " " + RSName(conn.Target) + " of " + VSName(vs)
	}
	p := &Probe{Name: name}
	needPort := func() error {
		if conn.Target.Port() == 0 {
			return errors.New("no port to connect to: set connect_port")
		}
		return nil
	}
	var extra any
	switch c.Kind {
	case config.CheckTCP:
		if err := needPort(); err != nil {
			return nil, false, err
		}
		mc.Family = FamilyTCP
		p.Prober = &TCPProber{Conn: conn, Dialer: b.opts.Dialer}
	case config.CheckHTTP, config.CheckSSL:
		if err := needPort(); err != nil {
			return nil, false, err
		}
		hp, key, err := b.http(vs, rs, c, conn)
		if err != nil {
			return nil, false, err
		}
		mc.Family, mc.Steps, mc.FastRecovery = FamilyHTTP, len(hp.URLs), c.HTTP.FastRecovery
		p.Prober, extra = hp, key
	case config.CheckSMTP:
		if err := needPort(); err != nil {
			return nil, false, err
		}
		p.Prober = &SMTPProber{Conn: conn, Dialer: b.opts.Dialer, HeloName: c.SMTP.HeloName}
		extra = c.SMTP.HeloName
	case config.CheckDNS:
		if err := needPort(); err != nil {
			return nil, false, err
		}
		p.Prober = &DNSProber{Conn: conn, Dialer: b.opts.Dialer, Type: c.DNS.Type, Name: c.DNS.Name}
		extra = []string{c.DNS.Type, c.DNS.Name}
	case config.CheckUDP:
		if err := needPort(); err != nil {
			return nil, false, err
		}
		u := c.UDP
		p.Prober = &UDPProber{Conn: conn, Dialer: b.opts.Dialer, Payload: u.Payload, RequireReply: u.RequireReply,
			ReplyData: u.ReplyData, ReplyMask: u.ReplyMask, MinReplyLength: int(u.MinReplyLength), MaxReplyLength: int(u.MaxReplyLength)}
		extra = u
	case config.CheckPing:
		p.Prober = &PingProber{Conn: conn}
	case config.CheckMisc:
		argv, err := config.SplitCommand(c.Misc.Path)
		if err != nil {
			return nil, false, fmt.Errorf("misc_path: %v", err)
		}
		s, err := script.Prepare(config.Command{Argv: argv, User: c.Misc.User, Group: c.Misc.Group}, b.policy)
		if err != nil {
			return nil, false, err
		}
		for _, w := range s.Warnings {
			b.opts.Log.Warn(w, "pos", c.Pos.String())
		}
		// misc_timeout 0 means the virtual server's delay_loop, as
		// keepalived has it.
		timeout := c.Misc.Timeout
		if timeout == 0 {
			timeout = DefaultDelayLoop
			if vs.DelayLoop != nil {
				timeout = *vs.DelayLoop
			}
		}
		mc.Timing.Timeout, mc.Timing.FromStart = timeout, true
		p.Prober = &MiscProber{Script: s, Timeout: timeout, Dynamic: c.Misc.Dynamic}
		// The real server's address stays in the key: the same script for
		// two real servers is two checks.
		extra = []any{argv, c.Misc.User, c.Misc.Group, c.Misc.Dynamic}
	case config.CheckFile:
		w, err := b.file(c)
		if err != nil {
			return nil, false, err
		}
		mc.Family = FamilyFile
		p.Watcher = w
		extra = []any{c.File.TrackFile, w.Weight, w.Reverse}
	default:
		return nil, false, fmt.Errorf("unknown checker kind")
	}
	p.Machine = b.cfgs.intern(mc)
	if !b.opts.ProblemsOnly {
		p.Key = NewProbeKey(c.Kind, conn, mc.Timing, mc.Alpha, mc.LogAllFailures, mc.FastRecovery, extra)
		// What keepalived compares to carry a checker's state across a
		// reload: the connection (its timeout included) and the kind's
		// own options, not the schedule (delay_loop, retry,
		// delay_before_retry, warmup) nor alpha; MISC_CHECK has no
		// connection, and its misc_timeout is not compared either.
		timeout := mc.Timing.Timeout
		if c.Kind == config.CheckMisc {
			timeout = 0
		}
		p.Identity = NewProbeKey(c.Kind, conn, timeout, mc.FastRecovery, extra)
	}
	return p, alpha, nil
}

// checkerAlpha is a checker's alpha: its own, else its real server's,
// else its virtual server's.
func checkerAlpha(vs *config.VirtualServer, rs *config.RealServer, c *config.Checker) bool {
	alpha := vs.Alpha
	if rs.Alpha != nil {
		alpha = *rs.Alpha
	}
	if c.Alpha != nil {
		alpha = *c.Alpha
	}
	return alpha
}

// http resolves the url blocks of HTTP_GET / SSL_GET.
func (b *builder) http(vs *config.VirtualServer, rs *config.RealServer, c *config.Checker, conn Conn) (*HTTPProber, any, error) {
	hp := &HTTPProber{Conn: conn, Dialer: b.opts.Dialer, Protocol: c.HTTP.Protocol}
	if c.Kind == config.CheckSSL {
		cfg, err := b.tls()
		if err != nil {
			return nil, nil, err
		}
		hp.TLS = cfg
	}
	first := func(s ...string) string {
		for _, v := range s {
			if v != "" {
				return v
			}
		}
		return ""
	}
	type urlKey struct {
		Path, Host, SNI, Digest, Regex string
		Status                         []config.StatusRange
		Options                        []string
		NoMatch                        bool
		Min                            uint64
		Max                            *uint64
	}
	var keys []urlKey
	for _, u := range c.HTTP.URLs {
		uc := URLCheck{
			Path:      u.Path,
			Host:      first(u.Virtualhost, c.HTTP.Virtualhost, rs.Virtualhost, vs.Virtualhost),
			Status:    u.StatusCodes,
			NoMatch:   u.RegexNoMatch,
			MinOffset: u.RegexMinOffset,
			MaxOffset: u.RegexMaxOffset,
		}
		if c.HTTP.EnableSNI {
			uc.SNI = first(u.Virtualhost, c.HTTP.Virtualhost, vs.Virtualhost)
		}
		if u.Digest != "" {
			d, err := hex.DecodeString(u.Digest)
			if err != nil {
				return nil, nil, fmt.Errorf("url %s: digest: %v", u.Path, err)
			}
			uc.Digest = d
		}
		if u.Regex != "" {
			re, _, err := u.GoRegex()
			if err != nil {
				return nil, nil, fmt.Errorf("url %s: %v", u.Path, err)
			}
			uc.Regex = re
		}
		hp.URLs = append(hp.URLs, uc)
		keys = append(keys, urlKey{u.Path, uc.Host, uc.SNI, u.Digest, u.Regex, u.StatusCodes, u.RegexOptions, u.RegexNoMatch, u.RegexMinOffset, u.RegexMaxOffset})
	}
	return hp, []any{c.HTTP.Protocol, keys}, nil
}

// tls builds the client configuration of SSL_GET from the SSL block, once.
// Like keepalived, the server's certificate is not verified (the ca file
// is read, so that a broken one is reported, but keepalived sets no
// verification either); the certificate and key are the client's.
func (b *builder) tls() (*tls.Config, error) {
	if b.tlsDone {
		return b.tlsCfg, b.tlsErr
	}
	b.tlsDone = true
	cfg := &tls.Config{InsecureSkipVerify: true}
	s := b.cfg.SSL
	if s != nil {
		if s.CA != "" {
			pemCA, err := os.ReadFile(s.CA)
			if err != nil {
				b.tlsErr = fmt.Errorf("SSL ca: %v", err)
				return nil, b.tlsErr
			}
			if !x509.NewCertPool().AppendCertsFromPEM(pemCA) {
				b.tlsErr = fmt.Errorf("SSL ca %s: no PEM certificate", s.CA)
				return nil, b.tlsErr
			}
		}
		if s.Certificate != "" || s.Key != "" {
			cert, err := loadKeyPair(s)
			if err != nil {
				b.tlsErr = fmt.Errorf("SSL (%s): %v", s.Pos, err)
				return nil, b.tlsErr
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
	}
	b.tlsCfg = cfg
	return cfg, nil
}

// loadKeyPair reads the client certificate chain and its key (the key file
// defaults to the certificate file, which may hold both), decrypting a
// legacy encrypted PEM key with the password.
func loadKeyPair(s *config.SSLConfig) (tls.Certificate, error) {
	certFile, keyFile := s.Certificate, s.Key
	if keyFile == "" {
		keyFile = certFile
	}
	if certFile == "" {
		certFile = keyFile
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	if s.Password != "" {
		var out []byte
		for rest := keyPEM; ; {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				break
			}
			//lint:ignore SA1019 legacy encrypted PEM keys are what keepalived's password decrypts
			if x509.IsEncryptedPEMBlock(blk) { //nolint:staticcheck
				der, err := x509.DecryptPEMBlock(blk, []byte(s.Password)) //nolint:staticcheck
				if err != nil {
					return tls.Certificate{}, fmt.Errorf("key %s: %v", keyFile, err)
				}
				blk = &pem.Block{Type: blk.Type, Bytes: der}
			}
			out = append(out, pem.EncodeToMemory(blk)...)
		}
		keyPEM = out
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

// file resolves a FILE_CHECK's track_file and prepares its tracker.
func (b *builder) file(c *config.Checker) (*FileWatcher, error) {
	var tf *config.TrackFile
	for _, f := range b.cfg.TrackFiles {
		if f.Name == c.File.TrackFile {
			tf = f
		}
	}
	if tf == nil {
		return nil, fmt.Errorf("track_file %q is not defined", c.File.TrackFile)
	}
	w := &FileWatcher{Weight: tf.Weight, Reverse: tf.Reverse, Log: b.opts.Log,
		File: track.FileConfig{Name: tf.Name, Path: tf.File, InitValue: tf.InitFile, Overwrite: tf.Overwrite}}
	if c.File.Weight != nil {
		w.Weight, w.Reverse = int(*c.File.Weight), c.File.Reverse
	}
	// keepalived drops a track_file whose directory does not exist.
	if fi, err := os.Stat(filepath.Dir(tf.File)); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("track_file %s: directory %s does not exist", tf.Name, filepath.Dir(tf.File))
	}
	return w, nil
}
