package agent

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"

	"stationsync/internal/blobstore"
	"stationsync/syncproto"
)

// Sending attachments (PROTOCOL.md §15). Files go up at the end of a round,
// after the records were pushed and the feed pulled, one chunk at a time:
//
//   - The station first asks the county about every file it has not seen
//     acknowledged (one request for up to 1000 files). A file the county
//     holds — sent earlier, by another station, or before a cut answer —
//     is marked acknowledged and never sent. For the others the county
//     says where its upload stands, kept on its disk per station and file,
//     so a cut link or a restarted agent resumes from the last
//     acknowledged chunk, never from zero.
//   - Before each chunk, changes saved meanwhile (an urgent visit, any new
//     record) are pushed: a record waits for one chunk at most, never for a
//     file.
//   - After RoundBudget the round ends and the next begins at once, so
//     that the county's decisions come down during a long upload too.

// errFileBudget ends a round's files when its time is up.
var errFileBudget = errors.New("attachments: round budget spent")

// maxMisses bounds the answers in a row that move an upload back (another
// offset, a file that did not verify) before the round gives up on it.
const maxMisses = 3

type unsentFile struct {
	hash  string
	size  int64
	state string
}

// uploadFiles sends the files the county lacks. Called by the round after
// push and pull, under a.mu.
func (a *Agent) uploadFiles(ctx context.Context, c *syncproto.Client, res *SyncResult) error {
	todo, err := a.Store.unsentFiles(ctx)
	if err != nil || len(todo) == 0 {
		return err
	}
	if time.Now().Before(a.files.noFilesUntil) {
		return nil
	}
	bs, err := a.blobs()
	if err != nil {
		return err
	}
	cfg := a.fileConfig()
	deadline := time.Now().Add(cfg.RoundBudget)
	for len(todo) > 0 {
		part := todo[:min(len(todo), syncproto.MaxFileQuery)]
		todo = todo[len(part):]
		refs := make([]syncproto.FileRef, len(part))
		for i, f := range part {
			refs[i] = syncproto.FileRef{Hash: f.hash, Size: f.size}
		}
		st, err := c.FileStatus(ctx, refs)
		if syncproto.IsNoFiles(err) {
			a.files.noFilesUntil = time.Now().Add(time.Hour)
			a.logger.Info("the county takes no attachments yet (an older release); files kept for later", "files", len(part)+len(todo))
			return nil
		}
		if err != nil {
			return fmt.Errorf("ask the county about attachments: %w", err)
		}
		chunk := cfg.Chunk
		if st.MaxChunk > 0 {
			chunk = min(chunk, st.MaxChunk)
		}
		for i, fs := range st.Files {
			f := part[i]
			switch fs.State {
			case syncproto.FileHave:
				if err := a.fileAcked(ctx, f.hash, res); err != nil {
					return err
				}
			case syncproto.FileRefused:
				if err := a.Store.markFile(ctx, f.hash, FileRefused, fs.Message); err != nil {
					return err
				}
				if f.state != FileRefused {
					a.logger.Warn("the county refuses an attachment", "hash", f.hash, "code", fs.Code, "reason", fs.Message)
				}
			case syncproto.FileSend:
				if f.state != FilePending {
					if err := a.Store.markFile(ctx, f.hash, FilePending, ""); err != nil {
						return err
					}
				}
				err := a.sendFile(ctx, c, bs, f, fs.Offset, chunk, deadline, res)
				if errors.Is(err, errFileBudget) {
					a.Nudge()
					return nil
				}
				if err != nil {
					return err
				}
			default:
				// Unreferenced: the record naming it has not reached the
				// county (it was rejected, or is queued behind a gap). The
				// file waits; so do files of a state this build does not
				// know.
			}
		}
	}
	return nil
}

// sendFile sends f from offset off, one chunk at a time, until the county
// holds it whole.
func (a *Agent) sendFile(ctx context.Context, c *syncproto.Client, bs *blobstore.Store, f unsentFile, off int64, chunk int, deadline time.Time, res *SyncResult) error {
	if !a.files.verified[f.hash] {
		// A damaged copy would be refused at the end of its upload, every
		// round, for ever: it is found before the first byte goes.
		if err := bs.Verify(f.hash); errors.Is(err, blobstore.ErrCorrupt) || errors.Is(err, blobstore.ErrNotFound) {
			a.logger.Error("attachment damaged or gone at the station; not sent", "hash", f.hash, "err", err)
			return a.Store.markFile(ctx, f.hash, FileMissing, "本机保存的附件文件已损坏或丢失，请重新添加")
		} else if err != nil {
			return err
		}
		if a.files.verified == nil {
			a.files.verified = map[string]bool{}
		}
		a.files.verified[f.hash] = true
	}
	buf := make([]byte, chunk)
	misses := 0
	for {
		// Records first: whatever was saved while the last chunk went up.
		if n, err := a.Store.Pending(ctx); err != nil {
			return err
		} else if n > 0 {
			if err := a.push(ctx, c, res); err != nil {
				return err
			}
		}
		if time.Now().After(deadline) {
			return errFileBudget
		}
		n := int(min(int64(chunk), f.size-off))
		if n <= 0 || off < 0 {
			return fmt.Errorf("attachment %s: the county's offset %d is outside the file's %d bytes", f.hash, off, f.size)
		}
		got, err := bs.ReadAt(f.hash, buf[:n], off)
		if got < n {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("read attachment: %w", err)
		}
		cr, err := c.PutChunk(ctx, f.hash, f.size, off, buf[:n])
		var pe *syncproto.Error
		if errors.As(err, &pe) {
			switch pe.Code {
			case syncproto.CodeOffset, syncproto.CodeFileCorrupt:
				// The county stands elsewhere (a chunk of an earlier
				// attempt, a restart), or dropped an upload that did not
				// verify: go on from where it says.
				if misses++; misses > maxMisses {
					return err
				}
				off = int64(pe.HWM)
				if pe.Code == syncproto.CodeFileCorrupt {
					off = 0
				}
				continue
			case syncproto.CodeFileTooLarge, syncproto.CodeFileType:
				a.logger.Warn("the county refuses an attachment", "hash", f.hash, "code", pe.Code, "reason", pe.Message)
				return a.Store.markFile(ctx, f.hash, FileRefused, pe.Message)
			case syncproto.CodeFileUnreferenced:
				return nil
			}
		}
		if err != nil {
			return fmt.Errorf("send attachment: %w", err)
		}
		if cr.Complete {
			a.logger.Debug("attachment sent", "hash", f.hash, "size", f.size)
			return a.fileAcked(ctx, f.hash, res)
		}
		if cr.Offset <= off {
			if misses++; misses > maxMisses {
				return fmt.Errorf("attachment %s: the county stays at %d", f.hash, cr.Offset)
			}
		} else {
			misses = 0
		}
		off = cr.Offset
	}
}

func (a *Agent) fileAcked(ctx context.Context, hash string, res *SyncResult) error {
	if err := a.Store.markFile(ctx, hash, FileAcked, ""); err != nil {
		return err
	}
	res.Files++
	return nil
}

// unsentFiles lists the files the county has not acknowledged, oldest
// first: those waiting, and those it refused, asked about again in case
// its limits changed.
func (s *Store) unsentFiles(ctx context.Context) ([]unsentFile, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT hash, size, state FROM attachments WHERE state IN ('pending', 'refused') ORDER BY created_at, hash`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []unsentFile
	for rows.Next() {
		var f unsentFile
		if err := rows.Scan(&f.hash, &f.size, &f.state); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// markFile sets a file's state; acknowledging it stamps acked_at once.
func (s *Store) markFile(ctx context.Context, hash, state, msg string) error {
	now := s.clock.Physical().UnixMilli()
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE attachments SET state = ?1, error = ?2, acked_at = CASE WHEN ?1 = 'acked' THEN coalesce(acked_at, ?3) ELSE acked_at END WHERE hash = ?4`,
			state, msg, now, hash)
		return err
	})
	return s.noteWrite(err)
}
