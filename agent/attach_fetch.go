package agent

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"stationsync/internal/bytesize"
	"strings"

	"stationsync/internal/blobstore"
	"stationsync/syncproto"
)

// Fetching a file back from the county (PROTOCOL.md §15.5): a file this PC
// evicted, or one another station of the village attached, comes down
// when a page asks for it. The bytes go into the blob store's resumable
// upload (Begin / WriteChunk), each piece fsynced with its offset, so a cut
// link or a restart goes on where it stopped; the whole is checked against
// its name before it becomes the file (Commit).

// ErrFetchOffline says the county could not be reached: the cadre tries
// again once the network is back. The text is for the pages.
var ErrFetchOffline = errors.New("现在连不上县里，联网后再点「从县里取回」")

// fetchPiece is what is kept (and fsynced) at a time while a file comes
// down: on 2G about 8 s.
const fetchPiece = 64 << 10

// FetchFile brings file hash of record recordID back from the county and
// keeps it here. A file the station holds already is left alone. Errors
// are Chinese for the pages: ErrFetchOffline, the county's own message,
// or ErrNotFound when the record does not name the file.
func (a *Agent) FetchFile(ctx context.Context, recordID, hash string) error {
	if !blobstore.ValidHash(hash) {
		return ErrNotFound
	}
	list, err := a.Attachments(ctx, recordID)
	if err != nil {
		return err
	}
	var at *Attachment
	for i := range list {
		if list[i].Hash == hash {
			at = &list[i]
		}
	}
	if at == nil {
		return ErrNotFound
	}
	bs, err := a.blobs()
	if err != nil {
		return err
	}
	if ok, err := bs.Has(hash); err != nil || ok {
		if ok {
			return a.Store.fetched(ctx, hash, *at, recordID)
		}
		return err
	}
	if !a.Enrolled(ctx) {
		return ErrNotEnrolled
	}
	// One fetch at a time: a 2G link carries one file well, not five.
	// And none beside an eviction pass, whose sweep would remove a file
	// fetched back before its row says so (attach_evict.go): a pass
	// waits for the fetch, at most a few minutes.
	a.files.fetching.Lock()
	defer a.files.fetching.Unlock()
	a.files.evictMu.Lock()
	defer a.files.evictMu.Unlock()
	c, err := a.fetchClient(ctx)
	if err != nil {
		return err
	}
	size := at.Size
	for attempt := 0; attempt < 3; attempt++ {
		done, got, typ, err := a.fetchOnce(ctx, c, bs, hash, size)
		if err != nil {
			return err
		}
		if at.Type == "" {
			at.Type = typ
		}
		if done {
			break
		}
		size = got // the county's size, unknown before (another station's file)
	}
	if ok, err := bs.Has(hash); err != nil || !ok {
		return fmt.Errorf("fetch %s: not kept: %v", hash, err)
	}
	if at.Size == 0 {
		at.Size = size
	}
	return a.Store.fetched(ctx, hash, *at, recordID)
}

// fetchOnce goes on with the download of hash of size bytes (0: not yet
// known) where the blob store's upload stands. It reports done when the
// file is kept whole; otherwise the size the county gave, to start with.
func (a *Agent) fetchOnce(ctx context.Context, c *syncproto.Client, bs *blobstore.Store, hash string, size int64) (done bool, got int64, typ string, err error) {
	off := int64(0)
	var u *blobstore.Upload
	if size > 0 {
		u, err = bs.Begin(hash, size)
		if errors.Is(err, blobstore.ErrExists) {
			return true, size, "", nil
		}
		if err != nil {
			return false, 0, "", err
		}
		if off, err = u.Offset(); err != nil {
			return false, 0, "", err
		}
	}
	d, err := c.GetFile(ctx, hash, off)
	if err != nil {
		var pe *syncproto.Error
		if errors.As(err, &pe) && pe.Code != "http" {
			if pe.Code == syncproto.CodeFileUnknown {
				return false, 0, "", errors.New("县里还没有这个文件（可能还没有上传到县里），稍后再试")
			}
			return false, 0, "", errors.New(pe.Message)
		}
		a.logger.Info("fetch from the county failed", "hash", hash, "err", err)
		return false, 0, "", ErrFetchOffline
	}
	defer d.Body.Close()
	if size != d.Size {
		if size > 0 {
			// The county's file is another size than the station noted: the
			// hash decides, and the county's copy is checked against it.
			a.logger.Warn("fetched file's size differs from the one noted", "hash", hash, "noted", size, "county", d.Size)
		}
		return false, d.Size, d.Type, nil
	}
	if d.Size > syncproto.DefaultMaxFileSize*4 {
		return false, 0, "", fmt.Errorf("县里的文件太大（%s）", bytesize.Text(d.Size))
	}
	buf := make([]byte, fetchPiece)
	for off < size {
		n, rerr := io.ReadFull(d.Body, buf[:min(int64(len(buf)), size-off)])
		if n > 0 {
			sum := sha256.Sum256(buf[:n])
			if err := u.WriteChunk(off, buf[:n], hex.EncodeToString(sum[:])); err != nil {
				return false, 0, "", a.Store.noteWrite(fmt.Errorf("keep fetched file: %w", err))
			}
			off += int64(n)
		}
		if rerr != nil && off < size {
			a.logger.Info("fetch cut; kept what came", "hash", hash, "kept", off, "size", size, "err", rerr)
			return false, 0, "", ErrFetchOffline
		}
	}
	if err := u.Commit(); err != nil {
		if errors.Is(err, blobstore.ErrCorrupt) {
			a.logger.Error("fetched file does not match its name; dropped", "hash", hash)
			return false, 0, "", errors.New("从县里取回的文件校验不通过，已丢弃；请再试一次，仍不行请联系县里")
		}
		return false, 0, "", a.Store.noteWrite(fmt.Errorf("keep fetched file: %w", err))
	}
	a.logger.Info("file fetched from the county", "hash", hash, "size", size)
	return true, size, d.Type, nil
}

// fetchClient is a client for the fetch, apart from the sync round's (a
// round holds the agent's lock for as long as it sends files).
func (a *Agent) fetchClient(ctx context.Context) (*syncproto.Client, error) {
	server, err := getMeta(ctx, a.Store.db.R, metaServerURL)
	if err != nil {
		return nil, err
	}
	station, err := getMeta(ctx, a.Store.db.R, metaStationID)
	if err != nil {
		return nil, err
	}
	key, err := os.ReadFile(a.keyPath())
	if err != nil {
		return nil, fmt.Errorf("read station key: %w", err)
	}
	c := a.newClient(strings.TrimSpace(server), station, key)
	c.RetryMax = 0
	return c, nil
}

// fetched notes that the station holds file hash again: acknowledged (the
// county gave it), the time to eviction counting from now. A file another
// station of the village attached gets its row here.
func (s *Store) fetched(ctx context.Context, hash string, at Attachment, recordID string) error {
	now := s.clock.Physical().UnixMilli()
	typ := at.Type
	if typ == "" {
		typ = "application/octet-stream"
	}
	kind := at.Kind
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO attachments (hash, size, type, name, kind, record_id, state, created_at, acked_at, fetched_at) VALUES (?1, ?2, ?3, '', ?4, ?5, 'acked', ?6, ?6, ?6)
			ON CONFLICT (hash) DO UPDATE SET state = 'acked', error = '', evicted_at = NULL, fetched_at = ?6, acked_at = coalesce(acked_at, ?6)
			WHERE state IN ('evicted', 'missing', 'acked')`,
			hash, at.Size, typ, string(kind), recordID, now)
		return err
	})
	return s.noteWrite(err)
}
