package syncproto

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Attachments (PROTOCOL.md §15): the files a record names by their
// SHA-256 travel apart from the records, after them, in chunks that each
// verify. The station first asks which files the county lacks and where
// each of its unfinished uploads stands, so that nothing the county has is
// sent again and a cut link resumes at the last acknowledged chunk.

// Paths of the attachment calls.
const (
	PathFileStatus = "/v1/files/status"
	PathFiles      = "/v1/files/" // + hash, PUT a chunk
)

// ContentChunk is the type of a chunk's body: the file's bytes as they are.
const ContentChunk = "application/octet-stream"

// Limits of the attachment calls.
const (
	// DefaultMaxFileSize is the largest file a county takes unless it is
	// configured otherwise, and the largest a station attaches. Photos are
	// scaled down at capture to about 300 KB; a 20-page scan in PDF stays
	// under this.
	DefaultMaxFileSize = 20 << 20
	// DefaultFileChunk is the chunk a station sends: on 2G (4–8 KB/s) about
	// 8–16 s of upload, so that a cut costs little and a record saved
	// meanwhile waits for one chunk at most.
	DefaultFileChunk = 64 << 10
	// MaxFileChunk is the largest chunk a county takes.
	MaxFileChunk = 1 << 20
	// MaxFileQuery bounds the files one status request asks about.
	MaxFileQuery = 1000
	// MaxFileStatusBody bounds a status request's body.
	MaxFileStatusBody = 256 << 10
)

// File states of a FileState answer.
const (
	FileHave         = "have"         // the county holds the file: never send it
	FileSend         = "send"         // send it from Offset
	FileRefused      = "refused"      // the county will not take it (Code, Message)
	FileUnreferenced = "unreferenced" // no record of the station's village names it yet
)

// Error codes of the attachment calls.
const (
	CodeFileTooLarge     = "file_too_large"    // 413: over the county's size limit
	CodeFileType         = "file_type"         // 415: not JPEG, PNG or PDF
	CodeChunkHash        = "chunk_hash"        // 400: the chunk is not the bytes whose hash was signed
	CodeOffset           = "offset"            // 409: the chunk does not continue the upload; HWM is where it stands
	CodeFileUnreferenced = "file_unreferenced" // 409: no record of the station's village names the file
	CodeFileCorrupt      = "file_corrupt"      // 422: the whole file did not match its name; start again from 0
)

// FileRef names a file a station holds.
type FileRef struct {
	Hash string `json:"hash"` // lowercase hex SHA-256 of the content
	Size int64  `json:"size"`
}

// FileStatusRequest asks the county about a station's files.
type FileStatusRequest struct {
	Version int       `json:"v"`
	Files   []FileRef `json:"files"`
}

// FileState is the county's answer for one file.
type FileState struct {
	Hash    string `json:"hash"`
	State   string `json:"state"`
	Offset  int64  `json:"offset,omitempty"`  // FileSend: bytes already acknowledged
	Code    string `json:"code,omitempty"`    // FileRefused: why
	Message string `json:"message,omitempty"` // FileRefused: Chinese, for the cadre
}

// FileStatusResult answers a FileStatusRequest, one state per file asked,
// in order.
type FileStatusResult struct {
	Version    int         `json:"v"`
	ServerTime int64       `json:"server_time"`
	MaxSize    int64       `json:"max_size"`  // the county's size limit
	MaxChunk   int         `json:"max_chunk"` // the largest chunk it takes
	Files      []FileState `json:"files"`
}

// ChunkResult answers a chunk: where the upload stands now.
type ChunkResult struct {
	Version  int    `json:"v"`
	Hash     string `json:"hash"`
	Size     int64  `json:"size"`
	Offset   int64  `json:"offset"`             // bytes acknowledged, on the county's disk
	Complete bool   `json:"complete,omitempty"` // the file is whole and verified: the station may mark it sent
}

// FileStatus asks the county which of files it holds and where an
// unfinished upload of each stands.
func (c *Client) FileStatus(ctx context.Context, files []FileRef) (*FileStatusResult, error) {
	if len(files) > MaxFileQuery {
		return nil, fmt.Errorf("file status: %d files, at most %d", len(files), MaxFileQuery)
	}
	body, err := json.Marshal(FileStatusRequest{Version: c.Speaks(), Files: files})
	if err != nil {
		return nil, err
	}
	var out FileStatusResult
	err = c.doSkew(ctx, http.MethodPost, PathFileStatus, "application/json", body, &out)
	if err != nil {
		return nil, err
	}
	if len(out.Files) != len(files) {
		return nil, fmt.Errorf("file status: %d answers for %d files", len(out.Files), len(files))
	}
	for i := range files {
		if out.Files[i].Hash != files[i].Hash {
			return nil, fmt.Errorf("file status: answer %d names %.16s…, asked %.16s…", i, out.Files[i].Hash, files[i].Hash)
		}
	}
	return &out, nil
}

// PutChunk sends the bytes of the file hash (of size bytes) from offset.
// The body's hash, which the request's signature covers, is the chunk's
// checksum.
func (c *Client) PutChunk(ctx context.Context, hash string, size, offset int64, chunk []byte) (*ChunkResult, error) {
	if !ValidBodyHash(hash) {
		return nil, fmt.Errorf("put chunk: bad file hash %.80q", hash)
	}
	if len(chunk) == 0 {
		return nil, errors.New("put chunk: empty chunk")
	}
	q := url.Values{}
	q.Set("offset", strconv.FormatInt(offset, 10))
	q.Set("size", strconv.FormatInt(size, 10))
	var out ChunkResult
	err := c.doSkew(ctx, http.MethodPut, PathFiles+hash+"?"+q.Encode(), ContentChunk, chunk, &out)
	if err != nil {
		return nil, err
	}
	if out.Hash != hash || out.Size != size || out.Offset < 0 || out.Offset > size {
		return nil, fmt.Errorf("put chunk: answer names %.16s… at %d of %d, sent %.16s… of %d", out.Hash, out.Offset, out.Size, hash, size)
	}
	return &out, nil
}

// doSkew is a signed request tried once more at once after a clock_skew
// refusal, which carried the county's time (as Push does).
func (c *Client) doSkew(ctx context.Context, method, pathQuery, ctype string, body []byte, out any) error {
	err := c.do(ctx, method, pathQuery, ctype, body, true, out)
	var e *Error
	if errors.As(err, &e) && e.Code == CodeClockSkew && c.OnServerTime != nil {
		err = c.do(ctx, method, pathQuery, ctype, body, true, out)
	}
	return err
}

// IsNoFiles reports whether err is the answer of a county of a release
// before attachments: its router knows no such path (404 or 405, not an
// answer of ours). The station keeps its files and asks again later.
func IsNoFiles(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == "http" && (e.Status == http.StatusNotFound || e.Status == http.StatusMethodNotAllowed)
}

// FileOffset is where the county's upload stands after a CodeOffset
// refusal, or -1 for another error.
func FileOffset(err error) int64 {
	var e *Error
	if errors.As(err, &e) && e.Code == CodeOffset {
		return int64(e.HWM)
	}
	return -1
}

// Fetching a file from the county (PROTOCOL.md §15.5): a station takes
// back a file its disk no longer keeps, and later a county decision's
// document comes down the same way.

// HeaderFileSize is the whole file's size on a fetch's answer, whatever
// part of it the body carries.
const HeaderFileSize = "X-File-Size"

// CodeFileUnknown is the answer to a fetch of a file the county does not
// hold, or that no record of the station's village names (404: the two are
// one answer).
const CodeFileUnknown = "file_unknown"

// FileDownload is a fetch's answer: Body carries the file's bytes from
// Offset to its end. The caller closes Body and checks the whole against
// the hash: nothing here does.
type FileDownload struct {
	Size   int64  // the whole file
	Offset int64  // where Body begins
	Type   string // image/jpeg, image/png or application/pdf
	Body   io.ReadCloser
}

// GetFile asks the county for the file hash from byte offset on. The
// request is signed like every station call (its query, and so the
// offset, included); it is not retried here: the caller resumes from what
// it kept. A stall ends it after the client's idle timeout.
func (c *Client) GetFile(ctx context.Context, hash string, offset int64) (*FileDownload, error) {
	if !ValidBodyHash(hash) {
		return nil, fmt.Errorf("get file: bad file hash %.80q", hash)
	}
	if offset < 0 {
		return nil, fmt.Errorf("get file: offset %d", offset)
	}
	pq := PathFiles + hash
	if offset > 0 {
		pq += "?" + url.Values{"offset": {strconv.FormatInt(offset, 10)}}.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+pq, nil)
	if err != nil {
		return nil, fmt.Errorf("get file: %w", err)
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	req.Header.Set(HeaderVersion, strconv.Itoa(c.Speaks()))
	if c.Key != nil {
		req.Header.Set("Authorization", SignRequest(c.Key, c.Station, http.MethodGet, pq, now(), nil))
	}
	hc := &http.Client{}
	if c.HTTP != nil {
		hc.Transport = c.HTTP.Transport
	}
	sent := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", PathFiles, err)
	}
	if st := resp.Header.Get(HeaderServerTime); st != "" && c.OnServerTime != nil {
		if ms, err := strconv.ParseInt(st, 10, 64); err == nil {
			c.OnServerTime(time.UnixMilli(ms), time.Since(sent))
		}
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, decodeError(resp, raw)
	}
	size, err := strconv.ParseInt(resp.Header.Get(HeaderFileSize), 10, 64)
	if err != nil || size <= 0 || offset >= size || resp.ContentLength >= 0 && resp.ContentLength != size-offset {
		// No county of ours answered (a captive portal's page, say).
		resp.Body.Close()
		return nil, &Error{Status: resp.StatusCode, Code: "http", Message: "收到的不是县级服务器的应答（可能是运营商或网络登录页面），请检查网络或服务器地址"}
	}
	return &FileDownload{Size: size, Offset: offset, Type: resp.Header.Get("Content-Type"), Body: resp.Body}, nil
}
