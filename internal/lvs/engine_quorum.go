package lvs

// Quorum returns the quorum and hysteresis the Engine applies to virtual
// server id, as Snapshot reports them, without building the snapshot of
// every virtual server: the LVS side asks for them once per quorum event,
// and a start emits one such event per virtual server, so going through
// Snapshot made starting with n virtual servers cost n² (minutes for
// 5,000 in the emulated lab). ok is false for a virtual server the Engine
// does not run (unknown, or after Stop).
func (e *Engine) Quorum(id VSID) (quorum, hysteresis int64, ok bool) {
	st := e.byID[id]
	if st == nil {
		return 0, 0, false
	}
	return st.v.quorum, st.v.hysteresis, true
}
