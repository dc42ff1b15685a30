package server

import (
	"context"
	"database/sql"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"stationsync/syncproto"
)

// Metrics is the county's Prometheus instrumentation: what the station
// API answered and how fast, what the merge did with the changes, what the
// store's group commits cost, and — read from the store when scraped — how
// long the stations have been silent and how much they hold back. It keeps
// its own registry (no global state): a test makes as many as it likes.
//
// Nothing here is labelled with a station, a village or a record: labels
// are a handful of fixed words, so the series stay few however many
// stations a county has, and no name or number can reach them.
//
// A nil *Metrics records nothing; every method may be called on it.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	requests       *prometheus.CounterVec   // handler, code
	requestSeconds *prometheus.HistogramVec // handler
	pushes         *prometheus.CounterVec   // outcome
	pushSeconds    *prometheus.HistogramVec // outcome
	pulls          *prometheus.CounterVec   // outcome
	pullSeconds    *prometheus.HistogramVec // outcome
	enrolls        *prometheus.CounterVec   // outcome
	changes        *prometheus.CounterVec   // status
	batchChanges   prometheus.Histogram
	pullRecords    prometheus.Histogram
	conflicts      prometheus.Counter
	fileStatus     *prometheus.CounterVec // outcome
	fileChunks     *prometheus.CounterVec // outcome
	fileChunkBytes *prometheus.CounterVec // outcome
	mergeSeconds   prometheus.Histogram
	commitSeconds  prometheus.Histogram
	groupPushes    prometheus.Histogram
	commitFailures prometheus.Counter
}

// maxScrapes is how many scrapes are answered at once: a Prometheus or
// two and an operator's curl.
const maxScrapes = 4

// Latency buckets: a push is tens of milliseconds on an idle county and
// seconds in a herd; the target is p99 ≤ 2 s, so there are buckets
// on both sides of it.
var latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 5, 10, 30}

// NewMetrics makes the county's metrics. stats, if not nil, is read at
// each scrape for the stations' gauges (CountyStore is one).
func NewMetrics(stats StationStatser) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stationsync_http_requests_total",
		Help: "HTTP requests answered, by handler (enroll, push, pull, file_status, file_chunk, probe, metrics, pages, other) and status code."}, []string{"handler", "code"})
	m.requestSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "stationsync_http_request_duration_seconds",
		Help: "Time from a request's headers to its answer, by handler.", Buckets: latencyBuckets}, []string{"handler"})
	m.pushes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stationsync_push_requests_total",
		Help: "Pushes answered, by outcome: ok, the protocol's error code (gap, overloaded, bad_signature, …), or canceled when the station went away first."}, []string{"outcome"})
	m.pushSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "stationsync_push_duration_seconds",
		Help: "Push latency at the county, body upload included, by outcome.", Buckets: latencyBuckets}, []string{"outcome"})
	m.pulls = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stationsync_pull_requests_total",
		Help: "Pulls answered, by outcome."}, []string{"outcome"})
	m.pullSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "stationsync_pull_duration_seconds",
		Help: "Pull latency at the county, by outcome.", Buckets: latencyBuckets}, []string{"outcome"})
	m.enrolls = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stationsync_enroll_requests_total",
		Help: "Enrolments answered, by outcome."}, []string{"outcome"})
	m.changes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stationsync_push_changes_total",
		Help: "Changes in answered pushes, by what the merge did: applied, duplicate (sent before) or rejected."}, []string{"status"})
	m.batchChanges = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "stationsync_push_batch_changes",
		Help: "Changes per pushed batch.", Buckets: []float64{1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000}})
	m.pullRecords = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "stationsync_pull_page_records",
		Help: "Records per pulled page.", Buckets: []float64{0, 1, 10, 50, 100, 250, 500, 1000, 2500}})
	m.conflicts = prometheus.NewCounter(prometheus.CounterOpts{Name: "stationsync_conflicts_total",
		Help: "Field conflicts the merge recorded (committed)."})
	m.fileStatus = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stationsync_file_status_requests_total",
		Help: "Attachment status calls answered, by outcome."}, []string{"outcome"})
	m.fileChunks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stationsync_file_chunks_total",
		Help: "Attachment chunks received, by outcome."}, []string{"outcome"})
	m.fileChunkBytes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stationsync_file_chunk_bytes_total",
		Help: "Bytes of attachment chunk bodies read, by outcome."}, []string{"outcome"})
	m.mergeSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "stationsync_store_merge_duration_seconds",
		Help: "Time a group commit spent merging its batches, inside the transaction.", Buckets: latencyBuckets})
	m.commitSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "stationsync_store_commit_duration_seconds",
		Help: "Time a group commit spent committing (the fsyncs).", Buckets: latencyBuckets})
	m.groupPushes = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "stationsync_store_group_pushes",
		Help: "Pushes written together in one group commit.", Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128}})
	m.commitFailures = prometheus.NewCounter(prometheus.CounterOpts{Name: "stationsync_store_commit_failures_total",
		Help: "Group commits the store failed (each push is then tried alone)."})
	for _, c := range []prometheus.Collector{m.requests, m.requestSeconds, m.pushes, m.pushSeconds, m.pulls, m.pullSeconds, m.enrolls,
		m.changes, m.batchChanges, m.pullRecords, m.conflicts, m.fileStatus, m.fileChunks, m.fileChunkBytes,
		m.mergeSeconds, m.commitSeconds, m.groupPushes, m.commitFailures} {
		f(c)
	}
	for _, s := range []string{syncproto.Applied, syncproto.Duplicate, syncproto.Rejected} {
		m.changes.WithLabelValues(s) // present at 0 from the start, so rate() has a series
	}
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if stats != nil {
		f(newStationCollector(stats))
	}
	if q, ok := stats.(pushQueuer); ok {
		f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stationsync_store_push_queue",
			Help: "Pushes waiting for the store's writer (the next group commit)."}, func() float64 { return float64(q.PushQueue()) }))
	}
	if p, ok := stats.(pooler); ok {
		w, r := p.Pools()
		f(collectors.NewDBStatsCollector(w, "county_writer"))
		f(collectors.NewDBStatsCollector(r, "county_reader"))
	}
	// A few scrapes at once (more are answered 503 at once), each given
	// up after 10 s; the stations' query runs once for all of them.
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{MaxRequestsInFlight: maxScrapes, Timeout: 10 * time.Second})
	return m
}

// pushQueuer and pooler are what CountyStore tells the metrics besides
// the stations: the pushes waiting for its writer, its connection pools.
type pushQueuer interface{ PushQueue() int }
type pooler interface {
	Pools() (writer, reader *sql.DB)
}

// watchSlots shows how many of the sync slots are taken (a full house
// means stations are being told to come back later).
func (m *Metrics) watchSlots(slots chan struct{}) {
	if m == nil || slots == nil {
		return
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stationsync_sync_slots_busy",
			Help: "Sync slots (pushes and pulls being served) taken."}, func() float64 { return float64(len(slots)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stationsync_sync_slots",
			Help: "Sync slots there are (serve's MaxInflight)."}, func() float64 { return float64(cap(slots)) }))
}

// Registry is where the metrics are registered (a caller may add its own).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format, to anyone:
// the callers decide who may ask (probes.go).
func (m *Metrics) Handler() http.Handler { return m.handler }

// handlerName names the route a request matched, from the mux's pattern:
// one of a few fixed words, so the label's values stay few.
func handlerName(pattern string) string {
	switch pattern {
	case "POST /v1/enroll":
		return "enroll"
	case "POST /v1/push":
		return "push"
	case "GET /v1/pull":
		return "pull"
	case "POST " + syncproto.PathFileStatus:
		return "file_status"
	case "PUT " + syncproto.PathFiles + "{hash}":
		return "file_chunk"
	case "GET /healthz", "GET /readyz":
		return "probe"
	case "GET /metrics":
		return "metrics"
	case "/":
		return "pages"
	}
	return "other"
}

// requestOutcome is a request's outcome as a label: ok for 2xx, else the
// protocol's error code the answer carried, else the status, and canceled
// when nothing was answered (the caller went away).
func requestOutcome(status int, code string) string {
	switch {
	case status == 0:
		return "canceled"
	case status < 300:
		return "ok"
	case code != "":
		return code
	}
	return "status_" + strconv.Itoa(status)
}

// observed records one answered request (observe.go calls it).
func (m *Metrics) observed(pattern string, status int, code string, bodyBytes int64, d time.Duration) {
	if m == nil {
		return
	}
	h := handlerName(pattern)
	s := d.Seconds()
	m.requests.WithLabelValues(h, strconv.Itoa(status)).Inc()
	m.requestSeconds.WithLabelValues(h).Observe(s)
	o := requestOutcome(status, code)
	switch h {
	case "push":
		m.pushes.WithLabelValues(o).Inc()
		m.pushSeconds.WithLabelValues(o).Observe(s)
	case "pull":
		m.pulls.WithLabelValues(o).Inc()
		m.pullSeconds.WithLabelValues(o).Observe(s)
	case "enroll":
		m.enrolls.WithLabelValues(o).Inc()
	case "file_status":
		m.fileStatus.WithLabelValues(o).Inc()
	case "file_chunk":
		m.fileChunks.WithLabelValues(o).Inc()
		m.fileChunkBytes.WithLabelValues(o).Add(float64(bodyBytes))
	}
}

// pushed records what the merge did with an answered batch.
func (m *Metrics) pushed(res *syncproto.PushResult) {
	if m == nil || res == nil {
		return
	}
	var applied, dup, rejected int
	for i := range res.Results {
		switch res.Results[i].Status {
		case syncproto.Applied:
			applied++
		case syncproto.Duplicate:
			dup++
		case syncproto.Rejected:
			rejected++
		}
	}
	m.changes.WithLabelValues(syncproto.Applied).Add(float64(applied))
	m.changes.WithLabelValues(syncproto.Duplicate).Add(float64(dup))
	m.changes.WithLabelValues(syncproto.Rejected).Add(float64(rejected))
	m.batchChanges.Observe(float64(len(res.Results)))
}

// pulled records the size of an answered page.
func (m *Metrics) pulled(page *syncproto.PullPage) {
	if m == nil || page == nil {
		return
	}
	m.pullRecords.Observe(float64(len(page.Records)))
}

// GroupCommitted records one group commit of the store (PushObserver).
func (m *Metrics) GroupCommitted(g GroupCommit) {
	if m == nil {
		return
	}
	m.mergeSeconds.Observe(g.Merge.Seconds())
	m.groupPushes.Observe(float64(g.Pushes))
	if g.Err != nil {
		m.commitFailures.Inc()
		return
	}
	m.commitSeconds.Observe(g.Commit.Seconds())
	m.conflicts.Add(float64(g.Conflicts))
}

// StationStatser gives the stations' counts the gauges show.
type StationStatser interface {
	StationStats(ctx context.Context) (StationStats, error)
}

// stationCollector reads the stations' counts from the store when
// scraped: one aggregate query over the stations table, at most one at a
// time, bounded in time, and reused for a few seconds so that scrapes in
// a burst cost one query.
type stationCollector struct {
	stats   StationStatser
	byAge   *prometheus.Desc
	byLog   *prometheus.Desc
	backlog *prometheus.Desc
	up      *prometheus.Desc
	seconds *prometheus.Desc

	mu   sync.Mutex
	at   time.Time
	last StationStats
	err  error
	took time.Duration
}

// statsTTL is how long one reading of the stations serves scrapes.
const statsTTL = 5 * time.Second

// statsTimeout bounds the reading: a scrape must not wait on a busy store.
const statsTimeout = 2 * time.Second

func newStationCollector(stats StationStatser) *stationCollector {
	return &stationCollector{
		stats: stats,
		byAge: prometheus.NewDesc("stationsync_stations", "Enrolled, not revoked stations by the age of their last contact (lt_1h, 1h_1d, 1d_7d, gt_7d, never).",
			[]string{"last_contact"}, nil),
		byLog: prometheus.NewDesc("stationsync_stations_by_backlog", "Stations by the changes they last reported waiting to be sent (0, 1_100, 101_1000, gt_1000).",
			[]string{"backlog"}, nil),
		backlog: prometheus.NewDesc("stationsync_stations_backlog_changes", "Changes all stations last reported waiting to be sent.", nil, nil),
		up:      prometheus.NewDesc("stationsync_store_up", "1 when the stations could be read from the store at this scrape, 0 when not.", nil, nil),
		seconds: prometheus.NewDesc("stationsync_store_stats_query_seconds", "Time the last reading of the stations took.", nil, nil),
	}
}

func (c *stationCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.byAge, c.byLog, c.backlog, c.up, c.seconds} {
		ch <- d
	}
}

func (c *stationCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	if time.Since(c.at) > statsTTL {
		ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
		start := time.Now()
		c.last, c.err = c.stats.StationStats(ctx)
		cancel()
		c.at, c.took = time.Now(), time.Since(start)
	}
	st, err, took := c.last, c.err, c.took
	c.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(c.seconds, prometheus.GaugeValue, took.Seconds())
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for _, g := range []struct {
		l string
		n int
	}{{"lt_1h", st.ContactLt1h}, {"1h_1d", st.Contact1hTo1d}, {"1d_7d", st.Contact1dTo7d}, {"gt_7d", st.ContactGt7d}, {"never", st.ContactNever}} {
		ch <- prometheus.MustNewConstMetric(c.byAge, prometheus.GaugeValue, float64(g.n), g.l)
	}
	for _, g := range []struct {
		l string
		n int
	}{{"0", st.Backlog0}, {"1_100", st.Backlog1To100}, {"101_1000", st.Backlog101To1000}, {"gt_1000", st.BacklogGt1000}} {
		ch <- prometheus.MustNewConstMetric(c.byLog, prometheus.GaugeValue, float64(g.n), g.l)
	}
	ch <- prometheus.MustNewConstMetric(c.backlog, prometheus.GaugeValue, float64(st.BacklogChanges))
}
