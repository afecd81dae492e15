package track

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParseValue(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"", 0},
		{"0", 0},
		{"5", 5},
		{"  42\n", 42},
		{"-10", -10},
		{"+7", 7},
		{"0x10", 16},
		{"0X1f", 31},
		{"010", 8},
		{"09", 0}, // octal stops at 9
		{"12abc", 12},
		{"abc", 0},
		{"-", 0},
		{"0x", 0},
		{"300", 254},
		{"-300", -254},
		{"99999999999999999999999", 254},
		{"\t-254 trailing", -254},
	}
	for _, tc := range tests {
		if got := ParseValue([]byte(tc.in)); got != tc.want {
			t.Errorf("ParseValue(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func FuzzParseValue(f *testing.F) {
	for _, s := range []string{"", "0", "-12", "0x1F", "017", "  9\n", "999999999999999999999", "-0x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v := ParseValue(b)
		if v < -254 || v > 254 {
			t.Fatalf("ParseValue(%q) = %d, outside ±254", b, v)
		}
	})
}

func FuzzParseInotify(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 16))
	f.Add(append([]byte{1, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0}, 'a', 'b', 0, 0))
	f.Add([]byte{1, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, n := range parseInotify(b) {
			if len(n) > len(b) {
				t.Fatalf("name %q longer than the input", n)
			}
		}
	})
}

func TestParseInotify(t *testing.T) {
	ev := func(mask uint32, name string) []byte {
		padded := len(name) + 1
		for padded%16 != 0 {
			padded++
		}
		b := make([]byte, 16+padded)
		b[4], b[5], b[6], b[7] = byte(mask), byte(mask>>8), byte(mask>>16), byte(mask>>24)
		b[12] = byte(padded)
		copy(b[16:], name)
		return b
	}
	buf := append(append(ev(0x8, "state"), ev(0x40000100, "subdir")...), ev(0x200, "other")...)
	got := parseInotify(buf)
	if len(got) != 2 || got[0] != "state" || got[1] != "other" {
		t.Fatalf("parseInotify = %q, want [state other] (directories skipped)", got)
	}
	if got := parseInotify(buf[:20]); len(got) != 0 {
		t.Fatalf("truncated event decoded as %q", got)
	}
}

func TestFileTrackerInitFile(t *testing.T) {
	v := int64(7)
	tests := []struct {
		name      string
		existing  string
		overwrite bool
		want      int64
	}{
		{"created when missing", "", false, 7},
		{"existing kept", "3\n", false, 3},
		{"existing overwritten", "3\n", true, 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "state")
			if tc.existing != "" {
				os.WriteFile(p, []byte(tc.existing), 0o644)
			}
			ft, err := NewFileTracker(FileConfig{Name: "f", Path: p, InitValue: &v, Overwrite: tc.overwrite}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := ft.Initial().Value; got != tc.want {
				t.Fatalf("value %d, want %d", got, tc.want)
			}
		})
	}
}

func TestFileTrackerMissingDirectory(t *testing.T) {
	_, err := NewFileTracker(FileConfig{Name: "f", Path: filepath.Join(t.TempDir(), "nodir", "state")}, nil)
	if err == nil {
		t.Fatal("a track_file in a missing directory was accepted")
	}
}

// TestFileTrackerWatch changes the file every way a user might and checks
// each change is reported.
func TestFileTrackerWatch(t *testing.T) {
	for _, poll := range []bool{false, true} {
		name := "inotify"
		if poll {
			name = "polling"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "state")
			ft, err := NewFileTracker(FileConfig{Name: "f", Path: p}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ft.PollInterval = 20 * time.Millisecond
			init := ft.Initial()
			if init.Value != 0 {
				t.Fatalf("missing file read as %d", init.Value)
			}
			out := make(chan Update, 8)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				if poll {
					ft.poll(ctx, func(v int64, why string) bool {
						if v != init.Value {
							init.Value = v
							out <- Update{Kind: KindFile, Name: "f", Value: v}
						}
						return true
					})
				} else {
					ft.Run(ctx, init.Value, out)
				}
				close(done)
			}()
			defer func() { cancel(); <-done }()
			expect := func(step string, want int64) {
				t.Helper()
				select {
				case u := <-out:
					if u.Value != want {
						t.Fatalf("%s: value %d, want %d", step, u.Value, want)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("%s: no update within 5s", step)
				}
			}
			os.WriteFile(p, []byte("5\n"), 0o644)
			expect("write", 5)
			tmp := filepath.Join(dir, ".state.tmp")
			os.WriteFile(tmp, []byte("-3\n"), 0o644)
			os.Rename(tmp, p)
			expect("rename over", -3)
			os.Remove(p)
			expect("delete", 0)
			os.WriteFile(p, []byte("12"), 0o644)
			expect("re-create", 12)
			os.WriteFile(filepath.Join(dir, "unrelated"), []byte("99"), 0o644)
			os.WriteFile(p, []byte("13"), 0o644)
			expect("after an unrelated file", 13)
		})
	}
}
