package server

import (
	"context"
	"log/slog"
	"time"

	"stationsync/internal/bundle"
)

// WatchBundles imports every uplink that appears in dir, as `county-server
// import` does, until ctx ends (`serve --import-dir`): the answer is
// written into dir beside it, the uplink moves to 已导入/ (or, refused,
// to 未导入/ with why). Run inside the service, it shares the service's
// writer and feed counter, which the command beside a running service
// cannot (PROTOCOL.md §16). poll: read the folder every few seconds
// instead of watching it, for a removable drive, which a watch would keep
// busy.
func (s *CountyStore) WatchBundles(ctx context.Context, dir string, poll bool, logger *slog.Logger) error {
	opt := bundle.WatchOptions{Kind: bundle.Uplink, Poll: poll, Logger: logger.With("subsystem", "bundles")}
	if poll {
		opt.Rescan = 5 * time.Second // a stick is looked at often, never held
	}
	return bundle.Watch(ctx, dir, opt, func(ctx context.Context, path string) error {
		res, err := s.ImportBundle(ctx, BundleImport{Path: path, OutDir: dir, By: "导入文件夹"})
		if err != nil {
			return err
		}
		logger.Info("bundle imported from the folder", "station", res.Station, "changes", res.Changes, "applied", res.Applied, "files", res.FilesStored, "answer", res.Downlink)
		return nil
	})
}
