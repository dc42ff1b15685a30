package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"stationsync/internal/blobstore"
	"stationsync/internal/bundle"
	"stationsync/internal/photo"
	"stationsync/syncproto"
)

// Importing a station's uplink bundle (PROTOCOL.md §16): the envelopes go
// through Push, the same high-water mark and merge as an online push, so
// that a bundle imported twice, or after the same changes came online,
// applies nothing twice; its files go into the blob store as uploads do;
// and a downlink for the station is written beside it: the answers to
// the envelopes, the feed after the station's cursor and the files of
// those records, signed with the county's bundle key.

// Audit actions of bundle imports.
const (
	AuditBundleImport       = "bundle_import"
	AuditBundleImportFailed = "bundle_import_failed"
)

func init() {
	AuditLabel[AuditBundleImport] = "导入U盘数据包"
	AuditLabel[AuditBundleImportFailed] = "U盘数据包被拒绝"
}

// Refusal codes of an import beyond internal/bundle's.
const (
	CodeBundleUnknownStation = "unknown_station"
	CodeBundleRevoked        = "revoked"
)

// BundleImport says what to import and where the answer goes.
type BundleImport struct {
	Path        string // the uplink bundle
	OutDir      string // the downlink's folder; default the uplink's
	FilesDir    string // the county's files; default files/ beside county.db (as FileConfig)
	MaxFileSize int64  // default syncproto.DefaultMaxFileSize
	By, Remote  string // who imported it, for the audit log
}

// BundleImportResult says what an import did.
type BundleImportResult struct {
	Station, Village, Uplink      string
	Changes                       int // in the uplink's envelopes
	Applied, Duplicate, Rejected  int
	FilesStored                   int
	FilesRefused                  []string // Chinese, one per file not taken
	Warnings                      []string // Chinese: envelopes the county could not apply as they are
	Downlink                      string   // the downlink's path
	DownlinkSize                  int64
	FeedRecords, DownFiles, Acked int

	refused map[string]string // hash → why, for the answer's summary
}

// ImportBundle imports the uplink at in.Path. A bundle that is not sound
// (damaged, cut short, of an unknown or revoked station, signed by
// another key, of a newer format or protocol) is refused with a
// *bundle.Error whose Message says in Chinese what to do, and changes
// nothing but the audit log.
func (s *CountyStore) ImportBundle(ctx context.Context, in BundleImport) (*BundleImportResult, error) {
	res, err := s.importBundle(ctx, in)
	if err != nil {
		target, detail := filepath.Base(in.Path), err.Error()
		var be *bundle.Error
		if errors.As(err, &be) && be.Err != nil {
			detail += "（" + be.Err.Error() + "）"
		}
		s.Audit(context.WithoutCancel(ctx), in.By, AuditBundleImportFailed, target, detail, in.Remote)
		return nil, err
	}
	detail := fmt.Sprintf("数据包 %s：%d 条记录（新 %d，重复 %d，拒绝 %d），%d 个附件；回执 %s（%d 条记录，%d 个附件）",
		res.Uplink, res.Changes, res.Applied, res.Duplicate, res.Rejected, res.FilesStored, filepath.Base(res.Downlink), res.FeedRecords, res.DownFiles)
	s.Audit(context.WithoutCancel(ctx), in.By, AuditBundleImport, res.Station, detail, in.Remote)
	return res, nil
}

func (s *CountyStore) importBundle(ctx context.Context, in BundleImport) (*BundleImportResult, error) {
	var st *Station
	b, err := bundle.Open(in.Path, bundle.Options{Kind: bundle.Uplink, Key: func(m *bundle.Manifest) (ed25519.PublicKey, error) {
		var err error
		st, err = s.Station(ctx, m.Station)
		if errors.Is(err, ErrNoStation) {
			return nil, &bundle.Error{Code: CodeBundleUnknownStation, Message: fmt.Sprintf("这个数据包来自县里没有注册的站点（%s，村代码 %s），不能导入。请确认它是本县村站导出的，或让该村站先完成注册。", m.Station, m.Village)}
		}
		if err != nil {
			return nil, err
		}
		if st.RevokedAt != nil {
			return nil, &bundle.Error{Code: CodeBundleRevoked, Message: fmt.Sprintf("这个数据包来自已被县里停用的站点（%s，村代码 %s），不能导入。如该村仍在使用，请让它重新注册后再导出。", st.ID, st.Village)}
		}
		return st.PublicKey, nil
	}})
	if err != nil {
		return nil, err
	}
	defer b.Close()
	if b.Village != st.Village {
		return nil, &bundle.Error{Code: bundle.CodeWrongStation, Message: fmt.Sprintf("数据包标明的村代码 %s 与站点注册的村 %s 不一致，不能导入。", b.Village, st.Village)}
	}
	// Everything is read and checked before anything is applied: a bundle
	// refused changes nothing.
	var state *bundle.StationState
	var batches []*syncproto.Batch
	var blobs []int
	for i, e := range b.Entries {
		switch e.Type {
		case bundle.TypeEnvelope:
			data, err := b.Entry(i)
			if err != nil {
				return nil, err
			}
			batch, err := openUplinkEnvelope(data, st)
			if err != nil {
				return nil, err
			}
			batches = append(batches, batch)
		case bundle.TypeState:
			data, err := b.Entry(i)
			if err != nil {
				return nil, err
			}
			if state != nil {
				return nil, uplinkCorrupt("two state entries")
			}
			state = new(bundle.StationState)
			if err := json.Unmarshal(data, state); err != nil {
				return nil, uplinkCorrupt("state: %v", err)
			}
		case bundle.TypeBlob:
			if !blobstore.ValidHash(e.Name) || e.Name != e.SHA256 {
				return nil, uplinkCorrupt("blob %q named other than its hash", e.Name)
			}
			blobs = append(blobs, i)
		default:
			// A newer station's entry this county does not know: the rest
			// still applies.
		}
	}
	if state == nil {
		return nil, uplinkCorrupt("no state entry")
	}
	res := &BundleImportResult{Station: st.ID, Village: st.Village, Uplink: b.ID}
	var answers []bundle.PushAnswer
	for _, batch := range batches {
		res.Changes += len(batch.Changes)
		a := bundle.PushAnswer{Epoch: batch.Epoch, First: batch.Changes[0].Seq, Last: batch.Changes[len(batch.Changes)-1].Seq, HLCs: make([]uint64, len(batch.Changes))}
		for j, c := range batch.Changes {
			a.HLCs[j] = c.HLC
		}
		pr, err := s.Push(ctx, st, batch)
		var gap *GapError
		var reused *EpochReusedError
		switch {
		case errors.As(err, &gap):
			a.Code, a.HWM, a.Message = syncproto.CodeGap, gap.HWM, fmt.Sprintf("县里只收到第 %d 条之前的记录，这个数据包从第 %d 条开始，中间缺少的记录需联网同步或导出新的数据包补上。", gap.HWM+1, a.First)
			res.Warnings = append(res.Warnings, a.Message)
		case errors.As(err, &reused):
			a.Code, a.HWM, a.Message = syncproto.CodeEpochReused, reused.HWM, "村站数据库可能从旧备份恢复，部分记录编号重复，未导入；联网同步时会自动重新编号后上传。"
			res.Warnings = append(res.Warnings, a.Message)
		case err != nil:
			return nil, fmt.Errorf("import bundle %s: push: %w", b.ID, err)
		default:
			a.Result = pr
			for _, r := range pr.Results {
				switch r.Status {
				case syncproto.Applied:
					res.Applied++
				case syncproto.Duplicate:
					res.Duplicate++
				case syncproto.Rejected:
					res.Rejected++
				}
			}
		}
		answers = append(answers, a)
	}
	files, err := s.bundleFiles(in)
	if err != nil {
		return nil, err
	}
	for _, i := range blobs {
		msg, refused, err := s.storeBundleBlob(ctx, files, b, i, st, in)
		if err != nil {
			return nil, err
		}
		if refused {
			// As a file status answer "refused" (§15.2): the station
			// marks the file and shows why.
			if res.refused == nil {
				res.refused = map[string]string{}
			}
			res.refused[b.Entries[i].Name] = msg
		}
		if msg != "" {
			res.FilesRefused = append(res.FilesRefused, msg)
		} else {
			res.FilesStored++
		}
	}
	if err := s.writeDownlink(ctx, b, st, state, answers, files, in, res); err != nil {
		return nil, err
	}
	return res, nil
}

func uplinkCorrupt(format string, args ...any) error {
	return &bundle.Error{Code: bundle.CodeCorrupt, Message: "数据包内容不完整或格式不对，不能导入。请在村站重新导出后再导入。", Err: fmt.Errorf(format, args...)}
}

// openUplinkEnvelope checks an envelope as a push's is checked (server.go)
// and opens it.
func openUplinkEnvelope(data []byte, st *Station) (*syncproto.Batch, error) {
	env, n, err := syncproto.ParseEnvelope(data)
	if err != nil || n != len(data) {
		// A newer station's envelope may not parse here at all (a body
		// encoding this build does not know): its header still says so.
		if v := envelopeVersion(data); v > syncproto.Version {
			return nil, newerProtocol(v)
		}
		return nil, uplinkCorrupt("envelope: %v (%d of %d bytes)", err, n, len(data))
	}
	if v := env.Header.Version; syncproto.CheckVersion(v) != nil {
		if v > syncproto.Version {
			return nil, newerProtocol(v)
		}
		return nil, &bundle.Error{Code: bundle.CodeVersion, Message: fmt.Sprintf("数据包里的记录由太旧的村站通生成（协议版本 %d），请先在村站升级村站通，再重新导出。", v)}
	}
	if env.Header.Station != st.ID {
		return nil, &bundle.Error{Code: bundle.CodeBadSignature, Message: "数据包里有不是本站签名的记录，不能导入。", Err: fmt.Errorf("envelope of %s in a bundle of %s", env.Header.Station, st.ID)}
	}
	batch, err := env.Open(st.PublicKey)
	if errors.Is(err, syncproto.ErrBadSignature) {
		return nil, &bundle.Error{Code: bundle.CodeBadSignature, Message: "数据包里记录的签名不对，内容可能被改动过，不能导入。", Err: err}
	}
	if err != nil {
		return nil, uplinkCorrupt("envelope: %v", err)
	}
	if batch.Village != "" && batch.Village != st.Village {
		return nil, &bundle.Error{Code: syncproto.CodeWrongVillage, Message: fmt.Sprintf("数据包里记录的村代码 %s 与站点注册的村 %s 不一致，不能导入。", batch.Village, st.Village)}
	}
	return batch, nil
}

func newerProtocol(v int) error {
	return &bundle.Error{Code: bundle.CodeVersion, Message: fmt.Sprintf("数据包里的记录由更新版本的村站通生成（协议版本 %d，本服务器只认识 %d–%d），请先升级县级服务器再导入。", v, syncproto.MinVersion, syncproto.Version)}
}

// envelopeVersion reads the v of an envelope's header without trusting
// anything else of it (§4's frame: magic, u16 header length, header
// JSON); 0 if there is none.
func envelopeVersion(p []byte) int {
	if len(p) < 6 || string(p[:4]) != "SSB1" {
		return 0
	}
	hl := int(binary.BigEndian.Uint16(p[4:6]))
	if hl > syncproto.MaxHeaderSize || len(p) < 6+hl {
		return 0
	}
	var h struct {
		V int `json:"v"`
	}
	if json.Unmarshal(p[6:6+hl], &h) != nil {
		return 0
	}
	return h.V
}

// bundleFiles opens the county's blob store where uploads go (files.go).
func (s *CountyStore) bundleFiles(in BundleImport) (*countyFiles, error) {
	dir := in.FilesDir
	if dir == "" {
		dir = filepath.Join(s.db.Dir, "files")
	}
	return openCountyFiles(dir)
}

// storeBundleBlob keeps a file of the uplink as a finished upload would be
// kept: only a file a record of the station's village names, of a type and
// size the county takes, stored under its checked hash. It returns a
// Chinese message for a file not taken.
func (s *CountyStore) storeBundleBlob(ctx context.Context, cf *countyFiles, b *bundle.Bundle, i int, st *Station, in BundleImport) (msg string, refused bool, err error) {
	e := b.Entries[i]
	short := e.Name[:12]
	limit := in.MaxFileSize
	if limit <= 0 {
		limit = syncproto.DefaultMaxFileSize
	}
	if e.Size > limit || e.Size == 0 {
		return fmt.Sprintf("附件 %s 大小为 %s，县里只接收不超过 %s 的非空文件，未保存。", short, mib(e.Size), mib(limit)), true, nil
	}
	var ok bool
	if err := s.db.R.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM record_files WHERE village = ? AND hash = ?)`, st.Village, e.Name).Scan(&ok); err != nil {
		return "", false, err
	}
	if !ok {
		// As "unreferenced" (§15.2): the file waits for its record.
		return fmt.Sprintf("附件 %s 没有对应的记录（记录可能被拒绝），未保存。", short), false, nil
	}
	data, err := b.Entry(i)
	if err != nil {
		return "", false, err
	}
	kind := photo.Sniff(data[:min(len(data), 16)])
	if fileMIME[kind] == "" {
		return fmt.Sprintf("附件 %s 不是 JPEG、PNG 照片或 PDF 扫描件，未保存。", short), true, nil
	}
	got, n, err := cf.main.Put(ctx, bytes.NewReader(data), limit)
	if err != nil {
		return "", false, fmt.Errorf("store bundle file %s: %w", e.Name, err)
	}
	if got != e.Name {
		return "", false, fmt.Errorf("store bundle file %s: stored as %s: %w", e.Name, got, blobstore.ErrCorrupt)
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO files (hash, size, type, station, received_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, got, n, fileMIME[kind], st.ID, s.now().UnixMilli())
		return err
	})
	return "", false, err
}

// writeDownlink writes the station's answer: the push answers, the feed
// after the station's cursor, the files of those records the station
// lacks, and a summary.
func (s *CountyStore) writeDownlink(ctx context.Context, up *bundle.Bundle, st *Station, state *bundle.StationState, answers []bundle.PushAnswer, cf *countyFiles, in BundleImport, res *BundleImportResult) error {
	key, err := s.BundleKey()
	if err != nil {
		return err
	}
	pages, err := s.bundleFeed(ctx, st, state.Cursor, state.FeedEpoch)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, h := range state.Have {
		have[h] = true
	}
	sum := bundle.Summary{Uplink: up.ID, ImportedAt: s.now().UnixMilli(), Applied: res.Applied, Duplicate: res.Duplicate, Rejected: res.Rejected,
		FilesStored: res.FilesStored, FilesRefused: res.FilesRefused, Refused: res.refused, Acked: []string{}}
	for _, h := range state.Have {
		if !blobstore.ValidHash(h) {
			continue
		}
		if ok, err := cf.main.Has(h); err != nil {
			return err
		} else if ok {
			sum.Acked = append(sum.Acked, h)
		}
	}
	res.Acked = len(sum.Acked)
	// The files the feed's records name that the county holds and the
	// station does not.
	var index bundle.FileIndex
	for _, p := range pages {
		res.FeedRecords += len(p.Page.Records)
		for _, r := range p.Page.Records {
			rows, err := s.db.R.QueryContext(ctx, `SELECT f.hash, f.size, f.type FROM record_files rf JOIN files f ON f.hash = rf.hash WHERE rf.kind = ? AND rf.record_id = ? ORDER BY f.hash`, r.Kind, r.ID)
			if err != nil {
				return err
			}
			for rows.Next() {
				var f bundle.FileRef
				if err := rows.Scan(&f.Hash, &f.Size, &f.Type); err != nil {
					rows.Close()
					return err
				}
				if have[f.Hash] {
					continue
				}
				have[f.Hash] = true
				f.Kind, f.RecordID = r.Kind, r.ID
				index.Files = append(index.Files, f)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
	}
	out := in.OutDir
	if out == "" {
		out = filepath.Dir(in.Path)
	}
	w, err := bundle.Create(out, bundle.Manifest{Kind: bundle.Downlink, Station: st.ID, Village: st.Village, Created: s.now().UnixMilli()})
	if err != nil {
		return err
	}
	add := func(typ, name string, v any) error {
		j, err := json.Marshal(v)
		if err != nil {
			return err
		}
		return w.Add(typ, name, j)
	}
	var werr error
	for _, a := range answers {
		werr = errors.Join(werr, add(bundle.TypePush, "", a))
	}
	for _, p := range pages {
		werr = errors.Join(werr, add(bundle.TypeFeed, "", p))
	}
	kept := index.Files[:0]
	for _, f := range index.Files {
		r, err := cf.main.Open(f.Hash)
		if errors.Is(err, blobstore.ErrNotFound) {
			continue
		}
		if err != nil {
			w.Abort()
			return err
		}
		data := make([]byte, r.Size())
		_, err = io.ReadFull(r, data)
		r.Close()
		if err != nil {
			// A damaged copy at the county: the station fetches it later.
			continue
		}
		werr = errors.Join(werr, w.Add(bundle.TypeBlob, f.Hash, data))
		kept = append(kept, f)
	}
	index.Files = kept
	res.DownFiles = len(kept)
	if len(kept) > 0 {
		werr = errors.Join(werr, add(bundle.TypeFiles, "", index))
	}
	werr = errors.Join(werr, add(bundle.TypeSummary, "", sum))
	if werr != nil {
		w.Abort()
		return fmt.Errorf("write downlink: %w", werr)
	}
	path, err := w.Commit(key)
	if err != nil {
		return err
	}
	res.Downlink = path
	if fi, err := os.Stat(path); err == nil {
		res.DownlinkSize = fi.Size()
	}
	return nil
}

// RefusalMessage is the Chinese sentence for an import's error: a
// bundle's refusal as it is, anything else as a failure to retry.
func RefusalMessage(err error) string {
	var be *bundle.Error
	if errors.As(err, &be) && be.Message != "" {
		return be.Message
	}
	if errors.Is(err, os.ErrNotExist) {
		return "找不到这个数据包文件，请检查文件名和路径。"
	}
	return "导入数据包失败：" + strings.TrimSpace(err.Error()) + "。请稍后重试；仍不行请联系技术支持。"
}
