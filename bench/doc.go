// Package bench holds the end-to-end benchmarks of the sync path: a
// station catching up on a backlog over loopback, a small batch over an
// emulated 2G link, the county's ingest rate and the latency of one fsynced
// save at the station. Each benchmark uses real SQLite files and, where the
// network is involved, a real HTTP server on 127.0.0.1, and reports its
// figures with b.ReportMetric; `make bench` prints them as a table through
// bench/table.
package bench
