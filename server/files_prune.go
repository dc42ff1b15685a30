package server

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Abandoned uploads: a station that sent half a scan and was then
// reinstalled, or whose record the county rejected, leaves chunks in its
// upload folder (<files>/stations/<id>/uploads/). The county drops those
// untouched for FileConfig.PruneAfter, every FileConfig.PruneEvery
// (blobstore.PruneUploads). A station that comes back later asks where its
// upload stands (§15.2) and starts it again from 0. Finished files are
// never pruned.

// Defaults of the pruning.
const (
	defaultPruneAfter = 30 * 24 * time.Hour
	defaultPruneEvery = 6 * time.Hour
)

// pruneUploads drops every station's uploads untouched since before and
// returns how many it dropped.
func (cf *countyFiles) pruneUploads(ctx context.Context, before time.Time) (int, error) {
	total := 0
	// The shared store takes no uploads, but a crash of an older build
	// may have left some.
	n, err := cf.main.PruneUploads(before)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return total, err
	}
	total += n
	list, err := os.ReadDir(filepath.Join(cf.dir, "stations"))
	if errors.Is(err, fs.ErrNotExist) {
		return total, nil
	}
	if err != nil {
		return total, err
	}
	for _, e := range list {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		if !e.IsDir() || !stationIDRe.MatchString(e.Name()) {
			continue
		}
		st, err := cf.station(e.Name())
		if err != nil {
			return total, err
		}
		n, err := st.PruneUploads(before)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return total, err
		}
		total += n
	}
	return total, nil
}

// pruneLoop prunes a minute after the start and then every PruneEvery,
// until ctx ends.
func (f *fileService) pruneLoop(ctx context.Context) error {
	t := time.NewTimer(min(time.Minute, f.cfg.PruneEvery))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		n, err := f.files.pruneUploads(ctx, f.s.Now().Add(-f.cfg.PruneAfter))
		if err != nil && ctx.Err() == nil {
			f.s.Logger.Error("pruning abandoned uploads", "err", err)
		}
		if n > 0 {
			f.s.Logger.Info("abandoned uploads dropped", "uploads", n, "untouched_for", f.cfg.PruneAfter)
		}
		t.Reset(f.cfg.PruneEvery)
	}
}
