package status

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestWriteStats(t *testing.T) {
	var b strings.Builder
	if err := WriteStats(&b, fixtureHub().Instances()[:1]); err != nil {
		t.Fatal(err)
	}
	// keepalived's layout, with VI_1's counters mapped onto its names.
	const want = `VRRP Instance: VI_1
  Advertisements:
    Received: 7
    Sent: 1234
  Became master: 3
  Released master: 2
  Packet Errors:
    Length: 3
    TTL: 3
    Invalid Type: 11
    Advertisement Interval: 10
    Address List: 4
  Authentication Errors:
    Invalid Type: 0
    Type Mismatch: 0
    Failure: 9
  Priority Zero:
    Received: 1
    Sent: 2
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriteData(t *testing.T) {
	var b strings.Builder
	if err := WriteData(&b, fixtureHub().Instances()); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	// The lines tools parse, in keepalived's spelling and indentation.
	for _, want := range []string{
		"------< VRRP Topology >------\n VRRP Instance = VI_1\n   VRRP Version = 2\n",
		"   State = MASTER\n",
		"   Last transition = 1773500966.535897 (Sat Mar 14 15:09:26.535897 2026)\n",
		"   Interface = eth0\n",
		"   Using src_ip = 10.77.0.1\n",
		"   Multicast address 224.0.0.18\n",
		"   Gratuitous ARP delay = 5\n",
		"   Virtual Router ID = 51\n",
		"   Priority = 150\n   Effective priority = 140\n",
		"   Advert interval = 1 sec\n",
		"   Authentication type = SIMPLE_PASSWORD\n",
		"   Virtual IP (2):\n     10.77.0.100/24 dev eth0 scope global set\n     10.77.0.101 dev eth1 scope global label eth1:1 set\n",
		"   Virtual IP Excluded :\n     fd00:77::100/64 dev eth0 scope global preferred_lft forever set\n",
		" VRRP Instance = VI_6\n   VRRP Version = 3\n   Using Native IPv6\n   State = BACKUP\n",
		"   Unicast Peer :\n     fd00:77::2\n",
		"   Master router = fd00:77::2\n   Master priority = 200\n",
		"   Advert interval = 500 milli-sec\n",
		"     fd00:77::200/64 dev eth0 scope global preferred_lft forever\n",
		"   Preempt = disabled\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("data dump lacks %q", want)
		}
	}
	if strings.Contains(got, "secret") {
		t.Error("data dump shows the password")
	}
}

func TestWriteJSON(t *testing.T) {
	var b strings.Builder
	if err := WriteJSON(&b, fixtureHub().Instances()); err != nil {
		t.Fatal(err)
	}
	var got []struct {
		Data  map[string]any    `json:"data"`
		Stats map[string]uint64 `json:"stats"`
	}
	if err := json.Unmarshal([]byte(b.String()), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d entries", len(got))
	}
	d, st := got[0].Data, got[0].Stats
	wantData := map[string]any{
		"iname": "VI_1", "ifp_ifname": "eth0", "vrid": 51.0, "state": 2.0, "wantstate": 2.0,
		"base_priority": 150.0, "effective_priority": 140.0, "version": 2.0, "garp_delay": 5.0,
		"last_transition": 1773500966.535897, "vipset": true, "nopreempt": false, "auth_type": 1.0,
		"vips":  []any{"10.77.0.100/24 dev eth0 scope global set", "10.77.0.101 dev eth1 scope global label eth1:1 set"},
		"evips": []any{"fd00:77::100/64 dev eth0 scope global preferred_lft forever set"},
	}
	for k, v := range wantData {
		if !reflect.DeepEqual(d[k], v) {
			t.Errorf("data.%s = %#v, want %#v", k, d[k], v)
		}
	}
	if _, ok := d["auth_data"]; ok {
		t.Error("the JSON dump shows the password")
	}
	wantStats := map[string]uint64{
		"advert_rcvd": 7, "advert_sent": 1234, "become_master": 3, "release_master": 2,
		"packet_len_err": 3, "advert_interval_err": 10, "ip_ttl_err": 3, "invalid_type_rcvd": 11,
		"addr_list_err": 4, "invalid_authtype": 0, "authtype_mismatch": 0, "auth_failure": 9,
		"pri_zero_rcvd": 1, "pri_zero_sent": 2,
	}
	if !reflect.DeepEqual(st, wantStats) {
		t.Errorf("stats = %v\nwant %v", st, wantStats)
	}
	if got[1].Data["state"] != 1.0 || got[1].Data["vipset"] != false || got[1].Data["master_priority"] != 200.0 {
		t.Errorf("VI_6 data = %v", got[1].Data)
	}
}

func TestDumpFiles(t *testing.T) {
	dir := t.TempDir()
	files := DumpFiles{
		Data:  filepath.Join(dir, "keepalived.data"),
		Stats: filepath.Join(dir, "keepalived.stats"),
		JSON:  filepath.Join(dir, "keepalived.json"),
	}
	h := fixtureHub()
	for name, dump := range map[string]func(DumpFiles) error{"data": h.DumpData, "stats": h.DumpStats, "json": h.DumpJSON} {
		if err := dump(files); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	for _, p := range []string{files.Data, files.Stats, files.JSON} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", p, fi.Mode().Perm())
		}
		b, _ := os.ReadFile(p)
		if !strings.Contains(string(b), "VI_1") || !strings.Contains(string(b), "VI_6") {
			t.Errorf("%s lacks an instance", p)
		}
	}
	// No temporary files left behind.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 3 {
		t.Errorf("%d files in the dump directory, want 3", len(ents))
	}
	// A directory that does not exist is an error, not a panic.
	bad := DumpFiles{Data: filepath.Join(dir, "missing", "x")}
	if err := h.DumpData(bad); err == nil {
		t.Error("dump into a missing directory succeeded")
	}
}

func TestUnixMicros(t *testing.T) {
	tests := []struct {
		t    time.Time
		want string
	}{
		{time.Unix(1795564213, 461358000), "1795564213.461358"},
		{time.Unix(5, 0), "5.000000"},
		{time.Unix(0, 1000), "0.000001"},
	}
	for _, tt := range tests {
		if got := unixMicros(tt.t); got != tt.want {
			t.Errorf("unixMicros(%v) = %s, want %s", tt.t, got, tt.want)
		}
	}
}

func TestHandleDumpSignal(t *testing.T) {
	dir := t.TempDir()
	files := DumpFiles{
		Data:  filepath.Join(dir, "d"),
		Stats: filepath.Join(dir, "s"),
		JSON:  filepath.Join(dir, "j"),
	}
	h := fixtureHub()
	tests := []struct {
		sig  os.Signal
		file string
		head string
	}{
		{syscall.SIGUSR1, files.Data, "------< VRRP Topology >------"},
		{syscall.SIGUSR2, files.Stats, "VRRP Instance: VI_1"},
		{syscall.Signal(36), files.JSON, "["},
	}
	for _, tt := range tests {
		handled, err := h.HandleDumpSignal(tt.sig, files)
		if !handled || err != nil {
			t.Fatalf("%v: handled=%v err=%v", tt.sig, handled, err)
		}
		b, err := os.ReadFile(tt.file)
		if err != nil || !strings.HasPrefix(string(b), tt.head) {
			t.Errorf("%v wrote %q (%v), want it to start with %q", tt.sig, b, err, tt.head)
		}
	}
	if handled, _ := h.HandleDumpSignal(syscall.SIGHUP, files); handled {
		t.Error("SIGHUP taken for a dump")
	}
	if len(DumpSignals) != 3 {
		t.Errorf("DumpSignals = %v", DumpSignals)
	}
}
