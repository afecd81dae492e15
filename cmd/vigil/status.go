package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"vigil/internal/status"
)

// subcommands are the client commands that talk to a running daemon.
var subcommands = []struct {
	name, help string
	run        func(ctx context.Context, c *status.Client, jsonOut bool, stdout, stderr io.Writer) int
}{
	{"status", "show every VRRP instance (--json for the raw reply)", runStatus},
	{"events", "follow state transitions, one line each, until interrupted (--json for JSON lines)", runEvents},
	{"reload", "reload the configuration; prints what changed and the file's warnings (--json for the raw reply), or the errors and exits 5 if it is refused", runReload},
}

// runSubcommand runs a client subcommand (args[0] is its name) against the
// daemon's control socket (--socket overrides it). handled is false when
// args[0] is not a subcommand, so that the caller reports it.
func runSubcommand(args []string, socket string, stdout, stderr io.Writer) (code int, handled bool) {
	if len(args) == 0 {
		return 0, false
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return subcommand(ctx, args, socket, stdout, stderr)
}

// subcommand is runSubcommand with the context injected, for tests.
func subcommand(ctx context.Context, args []string, socket string, stdout, stderr io.Writer) (int, bool) {
	for _, sc := range subcommands {
		if sc.name != args[0] {
			continue
		}
		fs := flag.NewFlagSet("vigil "+sc.name, flag.ContinueOnError)
		fs.SetOutput(stderr)
		if socket == "" {
			socket = status.DefaultSocket
		}
		sock := fs.String("socket", socket, "control socket of the daemon (default: the one the daemon started with the same -f, -s, -p uses)")
		jsonOut := false
		fs.BoolVar(&jsonOut, "json", false, "print JSON")
		fs.Usage = func() {
			opts := " [--socket PATH] [--json]"
			fmt.Fprintf(stderr, "Usage: vigil %s%s\n  %s\n", sc.name, opts, sc.help)
			fs.PrintDefaults()
		}
		if err := fs.Parse(args[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return exitOK, true
			}
			return exitUsage, true
		}
		if fs.NArg() > 0 {
			fmt.Fprintf(stderr, "vigil %s: unexpected argument %q\n", sc.name, fs.Arg(0))
			fs.Usage()
			return exitUsage, true
		}
		return sc.run(ctx, status.NewClient(*sock), jsonOut, stdout, stderr), true
	}
	return 0, false
}

// subcommandUsage lists the subcommands, for the help text.
func subcommandUsage(w io.Writer) {
	fmt.Fprintf(w, "\nCommands (talk to the daemon started with the same -f, -s and -p; --socket PATH to name its socket):\n")
	for _, sc := range subcommands {
		fmt.Fprintf(w, "  %-8s %s\n", sc.name, sc.help)
	}
}

func runStatus(ctx context.Context, c *status.Client, jsonOut bool, stdout, stderr io.Writer) int {
	st, err := c.Status(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "vigil status: %v\n", err)
		return exitFatal
	}
	if jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(st); err != nil {
			fmt.Fprintf(stderr, "vigil status: %v\n", err)
			return exitFatal
		}
		return exitOK
	}
	if err := renderStatus(stdout, st); err != nil {
		fmt.Fprintf(stderr, "vigil status: %v\n", err)
		return exitFatal
	}
	configNote(stderr, st)
	return exitOK
}

// renderStatus writes the human table: one line per instance, the times
// relative to the daemon's clock (st.Time) so that a skewed client clock
// does not matter.
func renderStatus(w io.Writer, st status.StatusJSON) error {
	if st.LVS != nil {
		// The LVS side after the VRRP side, in ipvsadm -Ln's layout.
		defer status.RenderLVS(w, st.LVS)
	}
	if len(st.Instances) == 0 {
		_, err := fmt.Fprintln(w, "no VRRP instances")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tSTATE\tPRIO/EFF\tVIPS\tMASTER\tLAST TRANSITION")
	for _, in := range st.Instances {
		vips := strings.Join(in.VIPs, ",")
		if vips == "" {
			vips = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\t%s\t%s\n",
			in.Name, in.State, in.BasePriority, in.EffectivePriority, vips, master(in), transition(in, st.Time))
	}
	return tw.Flush()
}

// master says who the master is, as seen by this instance.
func master(in status.InstanceJSON) string {
	switch {
	case in.State == "MASTER":
		return "self"
	case in.MasterAddr != "":
		return fmt.Sprintf("%s (prio %d)", in.MasterAddr, in.MasterPriority)
	}
	return "-"
}

// transition is "<age> ago: <reason>".
func transition(in status.InstanceJSON, now time.Time) string {
	if in.LastTransition == nil {
		return "-"
	}
	age := now.Sub(*in.LastTransition)
	if age < 0 {
		age = 0
	}
	s := humanDuration(age) + " ago"
	if in.LastReason != "" {
		s += ": " + in.LastReason
	}
	return s
}

// humanDuration is a duration at a useful precision: 42s, 5m3s, 2h5m, 3d4h.
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

func runEvents(ctx context.Context, c *status.Client, jsonOut bool, stdout, stderr io.Writer) int {
	enc := json.NewEncoder(stdout)
	err := c.Events(ctx, func(ev status.Event) error {
		if jsonOut {
			return enc.Encode(ev)
		}
		_, err := fmt.Fprintln(stdout, ev.String())
		return err
	})
	if err != nil {
		fmt.Fprintf(stderr, "vigil events: %v\n", err)
		return exitFatal
	}
	return exitOK
}

func runReload(ctx context.Context, c *status.Client, jsonOut bool, stdout, stderr io.Writer) int {
	res, err := c.Reload(ctx)
	var re *status.ReloadError
	switch {
	case err == nil:
		if jsonOut {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(res); err != nil {
				fmt.Fprintf(stderr, "vigil reload: %v\n", err)
				return exitFatal
			}
		} else {
			renderReload(stdout, res)
		}
		if len(res.Errors) > 0 {
			// Applied in part: the operator must know some of it is not running.
			return exitFatal
		}
		return exitOK
	case errors.As(err, &re):
		fmt.Fprintln(stderr, "vigil reload: refused; the running configuration is unchanged:")
		for _, e := range re.Errors {
			fmt.Fprintf(stderr, "  %s\n", e)
		}
		return exitInvalid
	}
	fmt.Fprintf(stderr, "vigil reload: %v\n", err)
	return exitFatal
}

// renderReload writes the human answer to a reload that was applied: what
// changed, by name, then the new file's diagnostics as `vigil -t` prints
// them, then what could not be applied.
func renderReload(w io.Writer, r status.ReloadJSON) {
	if len(r.Errors) > 0 {
		fmt.Fprintln(w, "vigil: configuration reloaded in part")
	} else {
		fmt.Fprintln(w, "vigil: configuration reloaded")
	}
	in := r.Instances
	var parts []string
	for _, g := range []struct {
		what  string
		names []string
	}{{"added", in.Added}, {"removed", in.Removed}, {"changed in place", in.InPlace}, {"restarted", in.Restarted}} {
		if len(g.names) > 0 {
			parts = append(parts, fmt.Sprintf("%d %s (%s)", len(g.names), g.what, strings.Join(g.names, ", ")))
		}
	}
	parts = append(parts, fmt.Sprintf("%d unchanged", len(in.Unchanged)))
	fmt.Fprintf(w, "instances: %s\n", strings.Join(parts, "; "))
	section := func(title string, lines []string) {
		if len(lines) == 0 {
			return
		}
		fmt.Fprintln(w, title)
		for _, l := range lines {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	section("errors run past (vigil -t rejects them; the daemon runs without these lines):", r.Tolerated)
	section("warnings:", r.Warnings)
	section("not applied (the rest of the new configuration runs):", r.Errors)
}
