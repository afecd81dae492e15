package main

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"runtime/debug"
	"syscall"

	"vigil/internal/daemon"
	"vigil/internal/logging"
)

// lvsChildFlag is the hidden first argument with which the VRRP process
// starts vigil again as its LVS child (lvsproc.ChildFlag); the rest are
// the parent's own arguments.
const lvsChildFlag = "--lvs-child"

// runLVSChild is the LVS child's main: the default GOMAXPROCS (no
// single-P setting, unlike the VRRP process) and normal scheduling; it
// logs where its parent logs.
func runLVSChild(argv []string, stderr io.Writer, getenv func(string) string) int {
	o, err := parseOptions(argv)
	if err != nil {
		fmt.Fprintf(stderr, "vigil: LVS process: %v\n", err)
		return exitUsage
	}
	if getenv("GOGC") == "" {
		// The LVS process's heap is mostly its configuration, which
		// lives as long as it does, and its checks allocate little: a
		// collection at half the live heap (not at all of it) costs
		// little CPU and keeps the memory of 10,000 real servers tens
		// of MB lower. GOGC in the environment still wins.
		debug.SetGCPercent(50)
	}
	if o.configID == "" {
		o.configID = shortHostname()
	}
	path, code := configPath(o, stderr)
	if code != exitOK {
		return code
	}
	o.configFile = path
	tag := "vigil"
	if o.namespace != "" {
		tag += "_" + o.namespace
	}
	log, _, closeLog, err := logging.Setup(logging.Config{
		Console: o.logConsole, NoSyslog: o.noSyslog, File: o.logFile,
		Facility: o.logFacility, Tag: tag, Debug: o.logDetail, Stderr: stderr,
	})
	if err != nil {
		fmt.Fprintf(stderr, "vigil: LVS process: %v\n", err)
		return exitFatal
	}
	defer closeLog()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err = daemon.RunLVSChild(ctx, daemon.Options{
		ConfigFile: o.configFile, ConfigID: o.configID, LogDetail: o.logDetail, Strict: o.strict,
		IncludeCheckAll: o.allConfig, Paths: pathsInput(o, getenv), Log: log, Stderr: stderr, Dataplane: o.dataplane,
	})
	if err != nil {
		log.Error("LVS process stopped: " + err.Error())
		return exitFatal
	}
	return exitOK
}
