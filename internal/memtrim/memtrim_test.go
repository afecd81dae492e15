package memtrim

import (
	"reflect"
	"strings"
	"testing"
)

func TestReadOnlySpans(t *testing.T) {
	const maps = `00400000-00a8f000 r-xp 00000000 fe:00 9987856                            /usr/sbin/vigil
00a8f000-01193000 r--p 0068f000 fe:00 9987856                            /usr/sbin/vigil
01193000-011fb000 rw-p 00d93000 fe:00 9987856                            /usr/sbin/vigil
011fb000-03214000 rw-p 00000000 00:00 0 
1a5798000000-1a5798c00000 rw-p 00000000 00:00 0 
7f48a8e03000-7f48a8e97000 r--p 00000000 fe:00 1234                       /usr/lib/locale/C.utf8/LC_CTYPE
7ffd1c6e5000-7ffd1c706000 rw-p 00000000 00:00 0                          [stack]
garbage line
`
	got, err := readOnlySpans(strings.NewReader(maps), 9987856)
	if err != nil {
		t.Fatal(err)
	}
	want := []span{{0x400000, 0xa8f000}, {0xa8f000, 0x1193000}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("spans %x, want %x (code and constants of the executable, never its data)", got, want)
	}
	if got, _ := readOnlySpans(strings.NewReader(maps), 0); len(got) != 0 {
		t.Errorf("inode 0 matched anonymous mappings: %x", got)
	}
}
