package supervisor

import "github.com/prometheus/client_golang/prometheus"

// collector exports each flow's supervision at scrape time, from the
// same state /flows shows, so the two always agree.
type collector struct{ s *Supervisor }

var (
	restartsDesc = prometheus.NewDesc("flowrun_flow_restarts_total",
		"Runs of a flow started again after a failed run (a connector that could not be opened).", []string{"flow"}, nil)
	reloadsDesc = prometheus.NewDesc("flowrun_flow_reloads_total",
		"New versions of a flow's file taken up (--watch, SIGHUP).", []string{"flow"}, nil)
	readyDesc = prometheus.NewDesc("flowrun_flow_ready",
		"1 while a flow reads its source (or has finished a finite one), else 0: starting, restarting, draining.", []string{"flow"}, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- restartsDesc
	ch <- reloadsDesc
	ch <- readyDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.s.Statuses() {
		ready := 0.0
		if st.ready {
			ready = 1
		}
		ch <- prometheus.MustNewConstMetric(restartsDesc, prometheus.CounterValue, float64(st.Restarts), st.Name)
		ch <- prometheus.MustNewConstMetric(reloadsDesc, prometheus.CounterValue, float64(st.Reloads), st.Name)
		ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, ready, st.Name)
	}
}
