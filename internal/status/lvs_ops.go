package status

import "github.com/prometheus/client_golang/prometheus"

// descLVSOps is LVSJSON.Operations as a counter: what the reconciler sent
// to the data plane since the LVS process started, so that a scrape shows
// what a reload or a health change cost (one operation for one changed
// real server). It starts again from 0 when the LVS process restarts,
// which Prometheus counters allow.
var descLVSOps = prometheus.NewDesc("vigil_lvs_operations_total",
	"Operations (service and real server additions, changes, removals) the LVS process sent to the data plane since it started.", nil, nil)
