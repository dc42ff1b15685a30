package syncproto

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
)

// EnrollFile is the enrollment file the county's stations page offers beside
// a code: an installer carries it to a station that may have no network on
// the day.
type EnrollFile struct {
	Server  string `json:"server"`
	Code    string `json:"code"` // carries the county CA's pin when it serves TLS
	Village string `json:"village"`
	Pin     string `json:"pin_sha256,omitempty"`
}

// ReadEnrollFile decodes an enrollment file, refusing one without a server
// address or a code.
func ReadEnrollFile(r io.Reader) (*EnrollFile, error) {
	var f EnrollFile
	if err := json.NewDecoder(io.LimitReader(r, 64<<10)).Decode(&f); err != nil {
		return nil, fmt.Errorf("注册文件格式不正确，请使用县里站点页面下载的注册文件: %w", err)
	}
	if u, err := url.Parse(f.Server); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("注册文件中没有有效的县级服务器地址")
	}
	if f.Code == "" {
		return nil, errors.New("注册文件中没有注册码")
	}
	return &f, nil
}
