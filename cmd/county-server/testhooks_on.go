//go:build stationsync_test

package main

import (
	"net"
	"net/http"
	"net/http/pprof"
	"os"
)

// Test builds only (never a release: tests/dist checks the release
// build): STATIONSYNC_TEST_PPROF_ADDR=127.0.0.1:PORT serves the Go
// profiler there, on a listener of its own, so that the herd
// (bench/herd) can take a CPU profile of the county under load.
func init() {
	addr := os.Getenv("STATIONSYNC_TEST_PPROF_ADDR")
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		panic("STATIONSYNC_TEST_PPROF_ADDR: " + err.Error())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	go http.Serve(ln, mux)
}
