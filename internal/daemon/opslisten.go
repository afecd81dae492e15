package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"vigil/internal/status"
)

// opsServer holds the operator's endpoints of a daemon: the control socket
// (status, events, reload) and, with vigil_metrics_listen, the metrics
// listener. Both daemon modes (VRRP with its LVS child, and -C alone) open
// them the same way and before they touch the host, so that a second Vigil
// started by mistake, or a metrics address already in use, fails first.
type opsServer struct {
	ctl, metrics net.Listener
	log          *slog.Logger
	ctx          context.Context
	cancel       context.CancelFunc
	wg           sync.WaitGroup
	served       bool
}

// listenOps opens the control socket at socket and, when metricsAddr is not
// empty, the metrics listener. On an error nothing stays open.
func listenOps(socket, metricsAddr string, log *slog.Logger) (*opsServer, error) {
	ctl, err := status.ListenControl(socket) // its errors name the socket
	if err != nil {
		return nil, err
	}
	s := &opsServer{ctl: ctl, log: log}
	if metricsAddr != "" {
		if s.metrics, err = status.ListenMetrics(metricsAddr); err != nil {
			ctl.Close()
			return nil, fmt.Errorf("metrics listener: %w", err)
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// serve answers on both listeners from hub until stop.
func (s *opsServer) serve(hub *status.Hub) {
	s.served = true
	s.run(s.ctl, hub.Handler(s.log))
	if s.metrics != nil {
		s.run(s.metrics, hub.MetricsHandler())
		s.log.Info("serving metrics", "addr", s.metrics.Addr().String())
	}
}

func (s *opsServer) run(ln net.Listener, h http.Handler) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := status.Serve(s.ctx, ln, h); err != nil && s.ctx.Err() == nil {
			s.log.Error("status server stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
}

// stop ends the servers and waits for them; listeners never served (a start
// that failed half-way) are closed.
func (s *opsServer) stop() {
	s.cancel()
	if !s.served {
		s.ctl.Close()
		if s.metrics != nil {
			s.metrics.Close()
		}
	}
	s.wg.Wait()
}
