package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"stationsync/agent"
	"stationsync/agent/web"
	"stationsync/installer"
)

// defaultListen is where the station's pages are served: this PC only.
// The installer's desktop shortcut opens http://127.0.0.1:8484/.
const defaultListen = "127.0.0.1:8484"

// servePages starts the station's pages beside the sync loop; they stop
// when ctx ends. A port already taken is logged as an error but does not
// stop the agent: syncing what is already recorded matters more than the
// pages of a second agent started by mistake.
//
// The returned func stops the pages and waits until they have, so that
// no request outlives the store.
func servePages(ctx context.Context, a *agent.Agent, listen, dataDir string, logger *slog.Logger) (wait func(), err error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("村站通页面的端口 %s 无法使用（是否已有一个村站通在运行？）: %w", listen, err)
	}
	if host, _, _ := net.SplitHostPort(listen); !isLoopback(host) {
		logger.Warn("station pages listen beyond this PC; anyone on the network can reach the log-in page", "listen", listen)
	}
	ws, err := web.New(a, web.Options{LogFile: installer.LogPath(dataDir, serviceName), Logger: logger})
	if err != nil {
		ln.Close()
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := ws.Serve(sctx, ln); err != nil {
			logger.Error("station pages stopped", "err", err)
		}
	}()
	logger.Info("station pages serving", "url", "http://"+ln.Addr().String()+"/")
	return func() { cancel(); <-done }, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
