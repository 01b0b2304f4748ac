package ship

import (
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves /healthz (200 while the read loop turns or waits on Kafka:
// a send that keeps failing is Kafka's problem, and restarting the shipper
// would not help) and /metrics (Prometheus).
func (s *Shipper) Handler() http.Handler {
	reg := prometheus.NewRegistry()
	counter := func(name, help string, v func() int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kaudit_ship_" + name, Help: help},
			func() float64 { return float64(v()) })
	}
	reg.MustRegister(
		counter("lines_total", "Lines acknowledged by Kafka.", s.shipped.Load),
		counter("empty_lines_total", "Blank lines skipped.", s.empty.Load),
		counter("too_long_lines_total", "Lines skipped as longer than the limit or too large for a record.", s.tooLong.Load),
		counter("batches_total", "Batches produced.", s.batches.Load),
		counter("rotations_total", "Rotated files finished.", s.rotations.Load),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kaudit_ship_lag_bytes", Help: "Bytes of the live file not read yet."},
			func() float64 { return float64(s.lag.Load()) }),
	)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		// The loop wakes at least every PollInterval outside a send.
		stale := time.Since(time.Unix(0, s.lastLoop.Load()))
		if limit := time.Minute + 10*s.o.PollInterval; stale > limit && !s.sending.Load() {
			http.Error(w, fmt.Sprintf("read loop stalled for %s", stale.Round(time.Second)), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}
