package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"stationsync/internal/blobstore"
	"stationsync/internal/bundle"
	"stationsync/internal/hlc"
	"stationsync/syncproto"
)

// USB bundles (PROTOCOL.md §16, internal/bundle): when a village has no
// link for weeks, a stick carries what a sync round would. Export writes
// the uplink: every queued change, sealed in the envelopes a push sends,
// the files the county has not acknowledged, and where the station's feed
// stands. Import reads the county's downlink and applies it as the round
// applies the county's answers: the push results acknowledge changes
// (ack), the feed pages are applied as pulled pages (applyPage), the
// files are kept. Any order of export, import and online rounds,
// repeated, applies every change once: the county's high-water mark
// makes an envelope imported twice a duplicate, and a change already
// acknowledged online is simply no longer queued here.

// metaBundleKey is the county's public key for downlink bundles (hex),
// learned at enrolment or from a pull answer.
const metaBundleKey metaKey[string] = "county_bundle_key"

// exportBatch is the changes per envelope of an uplink: the push's
// default batch, well inside what the county decodes at once.
const exportBatch = 2000

// ExportResult says what Export wrote.
type ExportResult struct {
	Path      string
	Changes   int   // queued changes, in Envelopes envelopes
	Files     int   // files the county has not acknowledged
	Size      int64 // bytes of the bundle
	Envelopes int
	Missing   []string // files that could not be read here (damaged or gone)
}

// Export writes an uplink bundle into dir with every change and file the
// county has not acknowledged. The bundle is complete or absent: written
// to a hidden temporary file, synced and renamed (internal/bundle).
func (a *Agent) Export(ctx context.Context, dir string) (*ExportResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.Enrolled(ctx) {
		return nil, errors.New("站点尚未注册，不能导出数据包：请先用县里发放的注册码完成注册")
	}
	if a.Store.text(ctx, metaUnconfirmed) != "" {
		return nil, ErrUnconfirmed
	}
	if err := a.Store.checkSyncState(ctx); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("导出位置 %s 不是一个可用的文件夹（U 盘是否已插好？）", dir)
	}
	r := a.Store.db.R
	station, err := getMeta(ctx, r, metaStationID)
	if err != nil {
		return nil, err
	}
	village, err := getMeta(ctx, r, metaVillage)
	if err != nil {
		return nil, err
	}
	state := bundle.StationState{AgentVersion: Version, Have: []string{}}
	if state.Cursor, err = getMeta(ctx, r, metaCursor); err != nil {
		return nil, err
	}
	if state.FeedEpoch, err = getMeta(ctx, r, metaFeedEpoch); err != nil {
		return nil, err
	}
	if state.Pending, err = a.Store.Pending(ctx); err != nil {
		return nil, err
	}
	w, err := bundle.Create(dir, bundle.Manifest{Kind: bundle.Uplink, Station: station, Village: village, Created: a.cfg.Now().UnixMilli()})
	if err != nil {
		return nil, fmt.Errorf("不能在 %s 写入数据包（U 盘是否只读或已满？）: %w", dir, err)
	}
	res := &ExportResult{}
	fail := func(err error) (*ExportResult, error) {
		w.Abort()
		return nil, err
	}
	var after uint64
	for {
		epoch, rows, err := a.Store.nextBatch(ctx, exportBatch, after)
		if err != nil {
			return fail(err)
		}
		state.Epoch = epoch
		if len(rows) == 0 {
			break
		}
		b := &syncproto.Batch{
			Version: syncproto.Version, Station: station, Epoch: epoch, Village: village,
			SentHLC: uint64(a.Store.Clock().Now()), Pending: state.Pending, AgentVersion: Version,
			Changes: make([]syncproto.Change, len(rows)),
		}
		for i := range rows {
			b.Changes[i] = rows[i].c
		}
		env, err := syncproto.SealBatch(b, a.key, a.level(len(rows)))
		if err != nil {
			return fail(fmt.Errorf("seal batch: %w", err))
		}
		if err := w.Add(bundle.TypeEnvelope, fmt.Sprintf("%s:%d-%d", epoch, rows[0].c.Seq, rows[len(rows)-1].c.Seq), env); err != nil {
			return fail(err)
		}
		res.Changes += len(rows)
		res.Envelopes++
		after = rows[len(rows)-1].c.Seq
	}
	files, err := a.Store.unsentFiles(ctx)
	if err != nil {
		return fail(err)
	}
	if len(files) > 0 {
		bs, err := a.blobs()
		if err != nil {
			return fail(err)
		}
		for _, f := range files {
			data, err := readBlob(bs, f.hash)
			if errors.Is(err, blobstore.ErrNotFound) || errors.Is(err, blobstore.ErrCorrupt) {
				a.logger.Error("attachment damaged or gone at the station; not exported", "hash", f.hash, "err", err)
				res.Missing = append(res.Missing, f.hash)
				continue
			}
			if err != nil {
				return fail(err)
			}
			if err := w.Add(bundle.TypeBlob, f.hash, data); err != nil {
				return fail(err)
			}
			res.Files++
		}
	}
	if state.Have, err = a.Store.heldFiles(ctx); err != nil {
		return fail(err)
	}
	sj, err := json.Marshal(state)
	if err != nil {
		return fail(err)
	}
	if err := w.Add(bundle.TypeState, "", sj); err != nil {
		return fail(err)
	}
	if res.Path, err = w.Commit(a.key); err != nil {
		return nil, fmt.Errorf("数据包没有写完（U 盘是否已拔出或已满？）: %w", err)
	}
	if fi, err := os.Stat(res.Path); err == nil {
		res.Size = fi.Size()
	}
	a.logger.Info("uplink bundle exported", "path", res.Path, "changes", res.Changes, "files", res.Files, "bytes", res.Size)
	return res, nil
}

// readBlob reads a whole file of the blob store and checks it against its
// name.
func readBlob(bs *blobstore.Store, hash string) ([]byte, error) {
	rd, err := bs.Open(hash)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	data := make([]byte, rd.Size())
	if _, err := io.ReadFull(rd, data); err != nil {
		return nil, err
	}
	if blobHash(data) != hash {
		return nil, fmt.Errorf("attachment %s: %w", hash, blobstore.ErrCorrupt)
	}
	return data, nil
}

// ImportResult says what Import applied.
type ImportResult struct {
	Uplink      string // the uplink the county answered (its bundle ID)
	Acked       int    // queued changes the county's answers acknowledged
	Rejected    int    // of those, changes the county refused (moved to 被退回)
	Pulled      int    // county records applied
	Skipped     int    // county records left for later: a newer state is here or still queued
	Files       int    // files kept from the bundle
	FilesAcked  int    // of the station's own files, now acknowledged
	FeedSkipped bool   // the feed was not applied: another county database, or pulled since
	Warnings    []string
	Summary     bundle.Summary
}

// errNoCountyKey refuses a downlink when the station does not know the
// county's key yet.
var errNoCountyKey = &bundle.Error{Code: "no_county_key", Message: "本站还不知道县里回执的签名公钥，无法核对这个回执。请先联网同步一次（县级服务器需为支持 U 盘数据包的版本），再导入。"}

// Import applies a downlink bundle for this station: the answers to an
// uplink, the county's feed and files. A bundle that is not sound — not
// signed by the county, for another station, damaged, cut short, of a
// newer format — is refused with a *bundle.Error and changes nothing.
// Importing one twice, or after the same answers came online, changes
// nothing more.
func (a *Agent) Import(ctx context.Context, path string) (*ImportResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.Enrolled(ctx) {
		return nil, errors.New("站点尚未注册，不能导入县里的回执")
	}
	if err := a.Store.checkSyncState(ctx); err != nil {
		return nil, err
	}
	station := a.Store.text(ctx, metaStationID)
	b, err := bundle.Open(path, bundle.Options{Kind: bundle.Downlink, Station: station, Key: func(*bundle.Manifest) (ed25519.PublicKey, error) {
		k, err := hex.DecodeString(a.Store.text(ctx, metaBundleKey))
		if err != nil || len(k) != ed25519.PublicKeySize {
			return nil, errNoCountyKey
		}
		return ed25519.PublicKey(k), nil
	}})
	if err != nil {
		return nil, err
	}
	defer b.Close()
	var answers []bundle.PushAnswer
	var pages []bundle.FeedPage
	var index bundle.FileIndex
	var blobs []int
	res := &ImportResult{}
	for i, e := range b.Entries {
		var v any
		switch e.Type {
		case bundle.TypePush:
			answers = append(answers, bundle.PushAnswer{})
			v = &answers[len(answers)-1]
		case bundle.TypeFeed:
			pages = append(pages, bundle.FeedPage{})
			v = &pages[len(pages)-1]
		case bundle.TypeFiles:
			v = &index
		case bundle.TypeSummary:
			v = &res.Summary
		case bundle.TypeBlob:
			if !blobstore.ValidHash(e.Name) || e.Name != e.SHA256 {
				return nil, downlinkCorrupt("blob %q named other than its hash", e.Name)
			}
			blobs = append(blobs, i)
			continue
		default:
			continue // a newer county's entry
		}
		data, err := b.Entry(i)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(data, v); err != nil {
			return nil, downlinkCorrupt("%s entry %d: %v", e.Type, i, err)
		}
	}
	for _, p := range pages {
		if len(p.Seqs) != len(p.Page.Records) {
			return nil, downlinkCorrupt("feed page of %d records with %d seqs", len(p.Page.Records), len(p.Seqs))
		}
	}
	res.Uplink = res.Summary.Uplink
	// As a round: the answers first, then the feed, then the files.
	for _, ans := range answers {
		if err := a.applyAnswer(ctx, ans, res); err != nil {
			return nil, err
		}
	}
	if err := a.applyFeed(ctx, pages, res); err != nil {
		return nil, err
	}
	if err := a.keepFiles(ctx, b, blobs, index, res); err != nil {
		return nil, err
	}
	a.logger.Info("downlink bundle imported", "path", path, "acked", res.Acked, "pulled", res.Pulled, "files", res.Files)
	return res, nil
}

func downlinkCorrupt(format string, args ...any) error {
	return &bundle.Error{Code: bundle.CodeCorrupt, Message: "回执数据包内容不完整或格式不对，不能导入。请让县里重新生成回执。", Err: fmt.Errorf(format, args...)}
}

// applyAnswer acknowledges what one push answer of the county names, as
// the push's acknowledge does, but only changes still queued under the
// same id with the same HLC: the answer may be weeks old.
func (a *Agent) applyAnswer(ctx context.Context, ans bundle.PushAnswer, res *ImportResult) error {
	if ans.Result == nil {
		if ans.Message != "" {
			res.Warnings = append(res.Warnings, ans.Message)
		}
		return nil
	}
	pr := ans.Result
	if pr.Epoch != ans.Epoch || uint64(len(ans.HLCs)) != ans.Last-ans.First+1 {
		return downlinkCorrupt("push answer for %s %d-%d names epoch %s with %d hlcs", ans.Epoch, ans.First, ans.Last, pr.Epoch, len(ans.HLCs))
	}
	epoch, err := getMeta(ctx, a.Store.db.R, metaEpoch)
	if err != nil {
		return err
	}
	if pr.Epoch == epoch {
		last, err := a.Store.maxSeq(ctx)
		if err != nil {
			return err
		}
		if pr.HWM > last {
			// As online (push.go): the county holds changes of this epoch
			// this database never made. The next online round renumbers.
			res.Warnings = append(res.Warnings, "本站数据库可能从旧备份恢复，这份回执中的确认未使用；联网同步时会自动处理。")
			return nil
		}
	}
	rows, err := a.Store.queuedRange(ctx, ans.Epoch, ans.First, ans.Last)
	if err != nil {
		return err
	}
	kept := rows[:0]
	for _, r := range rows {
		if r.c.HLC == ans.HLCs[r.c.Seq-ans.First] {
			kept = append(kept, r)
		}
	}
	if len(kept) == 0 {
		return nil
	}
	if pr.ServerHLC != 0 {
		a.Store.Clock().Observe(hlc.Timestamp(min(pr.ServerHLC, uint64(hlc.FromTime(a.Store.Clock().Physical().Add(syncproto.SkewWindow))))))
	}
	n, err := a.Store.ack(ctx, ans.Epoch, kept, pr)
	if err != nil {
		return err
	}
	res.Acked += n
	for _, r := range pr.Results {
		if r.Status == syncproto.Rejected {
			for _, k := range kept {
				if k.c.Seq == r.Seq {
					res.Rejected++
				}
			}
		}
	}
	return nil
}

// applyFeed applies the downlink's feed pages as pulled pages, but never
// over what the station pulled since the county wrote them
// (Store.applyDownPage).
func (a *Agent) applyFeed(ctx context.Context, pages []bundle.FeedPage, res *ImportResult) error {
	if len(pages) == 0 {
		return nil
	}
	end := pages[len(pages)-1].Page.Next
	for _, fp := range pages {
		applied, skipped, stop, err := a.Store.applyDownPage(ctx, fp, end)
		if err != nil {
			return fmt.Errorf("apply downlink feed: %w", err)
		}
		res.Pulled += applied
		res.Skipped += skipped
		if stop {
			res.FeedSkipped = true
			return nil
		}
	}
	return nil
}

// keepFiles stores the downlink's files, notes them as files the county
// holds, and marks the station's own files the county now holds as
// acknowledged.
func (a *Agent) keepFiles(ctx context.Context, b *bundle.Bundle, blobs []int, index bundle.FileIndex, res *ImportResult) error {
	refs := map[string]bundle.FileRef{}
	for _, f := range index.Files {
		refs[f.Hash] = f
	}
	if len(blobs) > 0 {
		bs, err := a.blobs()
		if err != nil {
			return err
		}
		limit := a.fileConfig().MaxSize
		for _, i := range blobs {
			e := b.Entries[i]
			if e.Size > limit {
				res.Warnings = append(res.Warnings, fmt.Sprintf("回执中的附件 %s 超过本站的大小上限，未保存。", e.Name[:12]))
				continue
			}
			data, err := b.Entry(i)
			if err != nil {
				return err
			}
			got, _, err := bs.Put(ctx, bytes.NewReader(data), limit)
			if err != nil {
				return a.Store.noteWrite(fmt.Errorf("keep downlink file: %w", err))
			}
			if got != e.Name {
				return fmt.Errorf("keep downlink file %s: stored as %s: %w", e.Name, got, blobstore.ErrCorrupt)
			}
			ref := refs[e.Name]
			if err := a.Store.noteCountyFile(ctx, e.Name, data, ref); err != nil {
				return err
			}
			res.Files++
		}
	}
	n, err := a.Store.ackFiles(ctx, res.Summary.Acked)
	res.FilesAcked = n
	if err != nil {
		return err
	}
	for hash, why := range res.Summary.Refused {
		if !blobstore.ValidHash(hash) {
			continue
		}
		if err := a.Store.refuseFile(ctx, hash, why); err != nil {
			return err
		}
	}
	return nil
}

// blobHash is a file's name in the blob store.
func blobHash(b []byte) string {
	return hexSHA256(b)
}
