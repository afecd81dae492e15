package lvsproc

import (
	"testing"
	"time"
)

// TestParseAge: the age is uptime minus the start time, read past a
// command name holding spaces and parentheses.
func TestParseAge(t *testing.T) {
	stat := []byte("4242 (vig il) (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 7 0 12345 1000000 300\n")
	age, ok := parseAge(stat, []byte("130.45 250.00\n"), 100)
	if !ok || age != 130450*time.Millisecond-123450*time.Millisecond {
		t.Errorf("age %v %t, want 7s", age, ok)
	}
	if _, ok := parseAge([]byte("4242 (vigil) S 1"), []byte("1.0 1.0"), 100); ok {
		t.Error("a short stat line gave an age")
	}
	if age, ok := processAge(); !ok || age < 0 || age > 24*time.Hour {
		t.Errorf("this process's age: %v %t", age, ok)
	}
}
