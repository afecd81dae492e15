# failsummary.awk reads the output of a Go test binary run with -test.v and
# prints, for each test that failed, the lines its own code logged
# (t.Log, t.Error, t.Fatal: "    file_test.go:N: ..."), each after the
# test's name. Parallel tests interleave their lines; the "=== RUN",
# "=== CONT" and "=== NAME" headers say whose the next lines are. A
# continuation of a multi-line message (indented further) is left out, so
# that a failure's own words stay near the end of a long log, which is the
# part CI shows.
/^=== (RUN|CONT|NAME|PAUSE) / { cur = $3; next }
/^ *--- FAIL: / {
	name = $0
	sub(/^ *--- FAIL: /, "", name)
	sub(/ .*/, "", name)
	failed[name] = 1
	next
}
/^    [^ ]+_test\.go:[0-9]+: / { n++; who[n] = cur; line[n] = $0 }
END {
	for (i = 1; i <= n; i++)
		if (who[i] in failed)
			print who[i] ":" line[i]
}
