package daemon

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	"vigil/internal/config"
	"vigil/internal/status"
)

// fileLoader loads the configuration file for this process, at start
// and at each reload: a reload parses again only the virtual_server blocks
// whose text changed, and hands out the values of the previous load for
// the others, by which the LVS side tells what it need not rebuild
// (config.Loader). Its result is always the one config.Load gives.
var fileLoader config.Loader

// loadConfig loads and judges the configuration file for a start or a
// reload. keepalived starts on a file with mistakes it can run past (an
// unknown keyword: it logs the line and leaves it out), and so does Vigil,
// so that a node comes up on the file the keepalived it replaces ran;
// strict (--strict, or global_defs vigil_strict in the file) refuses such a
// file instead. Any other error always refuses it: the returned error is
// then a *config.DiagnosticsError and nothing must be acted on.
//
// Every diagnostic is logged with its file:line: a mistake run past at warn
// level, loudly, with the suggestion the parser made.
func loadConfig(ctx context.Context, o Options, log *slog.Logger) (*config.Config, config.Diagnostics, error) {
	cfg, diags := fileLoader.Load(o.ConfigFile, config.LoadOptions{
		ReadOptions: config.ReadOptions{ConfigID: o.ConfigID, IncludeCheckAll: o.IncludeCheckAll},
		HostChecks:  true,
	})
	diags.Sort()
	strict := o.Strict || (cfg != nil && cfg.Global.VigilStrict)
	for _, d := range diags {
		switch {
		case d.Severity == config.Warning:
			log.Log(ctx, slog.LevelWarn, d.Msg, "pos", d.Pos.String())
		case d.Tolerable && !strict:
			log.Log(ctx, slog.LevelWarn, "configuration error run past, as keepalived does: "+d.Msg+
				" (the line, and the block it opens, is left out; vigil -t rejects the file; --strict or global_defs vigil_strict refuses it)",
				"pos", d.Pos.String(), "tolerated", true)
		default:
			log.Log(ctx, slog.LevelError, d.Msg, "pos", d.Pos.String())
		}
	}
	return cfg, diags, diags.StartErr(strict)
}

// configReport is what status shows of a configuration the daemon runs.
func configReport(file string, diags config.Diagnostics, now time.Time) status.ConfigReport {
	return status.ConfigReport{
		File:      file,
		LoadedAt:  now,
		Tolerated: diagStrings(diags.Tolerated()),
		Warnings:  diagStrings(diags.Warnings()),
	}
}

// diagStrings renders diagnostics as `vigil -t` prints them.
func diagStrings(ds config.Diagnostics) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.String())
	}
	return out
}

// reloadReply is the answer to `vigil reload` for a reload that was applied.
// applyErr is what could not be applied (the rest runs).
func reloadReply(diags config.Diagnostics, sum reloadSummary, applyErr error) status.ReloadJSON {
	out := status.ReloadJSON{
		Tolerated: diagStrings(diags.Tolerated()),
		Warnings:  diagStrings(diags.Warnings()),
		Instances: status.ReloadInstances{
			Added:     slices.Clone(sum.AddedNames),
			Removed:   slices.Clone(sum.RemovedNames),
			InPlace:   append(slices.Clone(sum.AddressesChangedNames), sum.PriorityChangedNames...),
			Restarted: slices.Clone(sum.RestartedNames),
			Unchanged: slices.Clone(sum.UnchangedNames),
		},
	}
	slices.Sort(out.Instances.InPlace)
	if applyErr != nil {
		out.Errors = errorLines(applyErr)
	}
	return out
}

// errorLines splits a (joined) error into its lines.
func errorLines(err error) []string {
	var out []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}
