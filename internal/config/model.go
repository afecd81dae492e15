package config

// Config is the typed model of one keepalived.conf, after includes,
// preprocessing, parsing and validation. It is what the rest of Vigil reads;
// nothing outside this package sees the text or the Node tree.
//
// The VRRP side (global_defs, static_*, vrrp_*, garp_group) is declared in
// model_vrrp.go; the LVS side (virtual_server_group, virtual_server) in
// model_lvs.go.
type Config struct {
	// Files lists every file read, the main one first, then includes in
	// the order they were read.
	Files []string `json:"files"`

	Global GlobalDefs `json:"global_defs"`

	StaticAddresses []*VirtualAddress `json:"static_ipaddress,omitempty"`
	StaticRoutes    []*Route          `json:"static_routes,omitempty"`
	StaticRules     []*Rule           `json:"static_rules,omitempty"`

	Scripts    []*VRRPScript   `json:"vrrp_scripts,omitempty"`
	TrackFiles []*TrackFile    `json:"track_files,omitempty"`
	Processes  []*TrackProcess `json:"vrrp_track_processes,omitempty"`
	SyncGroups []*SyncGroup    `json:"vrrp_sync_groups,omitempty"`
	GarpGroups []*GarpGroup    `json:"garp_groups,omitempty"`
	Instances  []*VRRPInstance `json:"vrrp_instances,omitempty"`

	VirtualServerGroups []*VirtualServerGroup `json:"virtual_server_groups,omitempty"`
	VirtualServers      []*VirtualServer      `json:"virtual_servers,omitempty"`
	// SSL is the top-level SSL block: the client certificate and CA that
	// SSL_GET checkers use. Nil when the file has none.
	SSL *SSLConfig `json:"ssl,omitempty"`
}
