package notify

import (
	"slices"
	"testing"
)

func TestEventFormats(t *testing.T) {
	tests := []struct {
		ev   Event
		line string
		args []string
	}{
		{Event{KindInstance, "VI_1", StateMaster, 100}, "INSTANCE \"VI_1\" MASTER 100\n", []string{"INSTANCE", "VI_1", "MASTER", "100"}},
		{Event{KindInstance, "VI_1", StateFault, 90}, "INSTANCE \"VI_1\" FAULT 90\n", []string{"INSTANCE", "VI_1", "FAULT", "90"}},
		{Event{KindGroup, "G1", StateBackup, 77}, "GROUP \"G1\" BACKUP 0\n", []string{"GROUP", "G1", "BACKUP", "0"}},
		{Event{KindInstance, "VI_2", StateMasterRxLowerPri, 150}, "INSTANCE \"VI_2\" MASTER_RX_LOWER_PRI 150\n", nil},
		{Event{KindInstance, "VI_2", StateBackupPriority, 80}, "INSTANCE \"VI_2\" BACKUP_PRIORITY 80\n", nil},
	}
	for _, tc := range tests {
		if got := tc.ev.FIFOLine(); got != tc.line {
			t.Errorf("%+v: FIFOLine %q, want %q", tc.ev, got, tc.line)
		}
		if tc.args != nil && !slices.Equal(tc.ev.NotifyArgs(), tc.args) {
			t.Errorf("%+v: NotifyArgs %q, want %q", tc.ev, tc.ev.NotifyArgs(), tc.args)
		}
	}
}

func TestEventValidate(t *testing.T) {
	tests := []struct {
		ev Event
		ok bool
	}{
		{Event{KindInstance, "VI_1", StateMaster, 100}, true},
		{Event{KindGroup, "G", StateStop, 0}, true},
		{Event{KindInstance, "VI_1", StateDeleted, 0}, true},
		{Event{"SERVER", "x", StateMaster, 0}, false},
		{Event{KindInstance, "", StateMaster, 0}, false},
		{Event{KindInstance, "VI_1", "master", 0}, false},
		{Event{KindGroup, "G", StateMasterRxLowerPri, 0}, false},
	}
	for _, tc := range tests {
		if err := tc.ev.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: Validate = %v, want ok=%v", tc.ev, err, tc.ok)
		}
	}
}
