package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"stationsync/internal/atomicfile"
	"stationsync/internal/logging"
	"stationsync/internal/zone"
)

// ConfigFileName is the station's config file, kept in its data directory
// beside station.db so that an upgrade or a reinstall finds it there.
const ConfigFileName = "config.json"

// FileConfig is what a technician may edit in config.json. The running
// service watches the file and applies a valid edit at once (sync
// interval, server address, log level); an invalid edit is refused and the
// running configuration stays.
type FileConfig struct {
	// Server is the county server's URL, e.g. http://county.example:8870.
	// Empty: the one given at enrollment. Setting it moves an enrolled
	// station to a new address (same county, same identity).
	Server string `json:"server,omitempty"`
	// SyncInterval is the time between sync rounds while all is well;
	// default "1m", between "5s" and "24h".
	SyncInterval Duration `json:"sync_interval"`
	// LogLevel is debug, info, warn or error; default info.
	LogLevel string `json:"log_level"`
	// LogMaxSizeMB caps the log file before it rotates; default 10.
	LogMaxSizeMB int `json:"log_max_size_mb"`
	// LogMaxFiles is how many rotated log files are kept; default 5.
	LogMaxFiles int `json:"log_max_files"`
	// Timezone is the zone the pages show times and judge "today" in, an
	// IANA name; empty: Asia/Shanghai, as at the county (whose
	// county-server serve --timezone must name the same zone).
	Timezone string `json:"timezone,omitempty"`
	// EvictFilesAfterDays is how many days a file the county has
	// acknowledged stays on this PC before it is taken off (and fetched
	// back from the county when a page asks for it); default 30, 0 never.
	EvictFilesAfterDays int `json:"evict_files_after_days"`
}

// DefaultConfig is the configuration of a freshly installed station.
func DefaultConfig() FileConfig {
	return FileConfig{SyncInterval: Duration(time.Minute), LogLevel: "info", LogMaxSizeMB: 10, LogMaxFiles: 5, EvictFilesAfterDays: 30}
}

// Duration is a time.Duration written as "90s" or "5m" in the file.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "90s", "5m", "1h30m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`should be a duration in quotes, like "1m" or "30s"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf(`%q is not a duration (like "1m" or "30s")`, s)
	}
	*d = Duration(v)
	return nil
}

// ConfigError names the field that is wrong and why.
type ConfigError struct {
	Field string
	Msg   string
}

func (e *ConfigError) Error() string { return fmt.Sprintf("config: %s: %s", e.Field, e.Msg) }

// Validate checks every field and returns one ConfigError per wrong field.
func (c FileConfig) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if c.Server != "" {
		u, err := url.Parse(c.Server)
		switch {
		case err != nil:
			bad("server", "not a URL: %v", err)
		case u.Scheme != "http" && u.Scheme != "https":
			bad("server", "should start with http:// or https://, got %q", c.Server)
		case u.Host == "":
			bad("server", "has no host name: %q", c.Server)
		}
	}
	if d := time.Duration(c.SyncInterval); d < 5*time.Second || d > 24*time.Hour {
		bad("sync_interval", "%s is outside 5s…24h", d)
	}
	if _, err := logging.ParseLevel(c.LogLevel); err != nil {
		bad("log_level", "%v", err)
	}
	if c.LogMaxSizeMB < 1 || c.LogMaxSizeMB > 1024 {
		bad("log_max_size_mb", "%d is outside 1…1024", c.LogMaxSizeMB)
	}
	if c.LogMaxFiles < 1 || c.LogMaxFiles > 100 {
		bad("log_max_files", "%d is outside 1…100", c.LogMaxFiles)
	}
	if c.EvictFilesAfterDays < 0 || c.EvictFilesAfterDays > 3650 {
		bad("evict_files_after_days", "%d is outside 0…3650 (0: never)", c.EvictFilesAfterDays)
	}
	if _, err := zone.Load(c.Timezone); err != nil {
		bad("timezone", "%v (like %q)", err, zone.Default)
	}
	return errors.Join(errs...)
}

// ParseConfig decodes a config file strictly over the defaults: an unknown
// field (a typo) is an error rather than a silently ignored setting, and so
// is anything after the object. Absent fields keep their defaults.
func ParseConfig(r io.Reader) (FileConfig, error) {
	c := DefaultConfig()
	dec := json.NewDecoder(io.LimitReader(r, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, configDecodeError(err)
	}
	if dec.More() {
		return c, &ConfigError{Field: "(file)", Msg: "text after the closing }"}
	}
	var rest json.RawMessage
	if err := dec.Decode(&rest); err != io.EOF {
		return c, &ConfigError{Field: "(file)", Msg: "text after the closing }"}
	}
	return c, c.Validate()
}

func configDecodeError(err error) error {
	var ute *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &ute):
		return &ConfigError{Field: ute.Field, Msg: "should be a " + ute.Type.String()}
	case errors.As(err, &se):
		return &ConfigError{Field: "(file)", Msg: fmt.Sprintf("not valid JSON at byte %d: %v", se.Offset, err)}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return &ConfigError{Field: strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), Msg: "unknown field (a typo?)"}
	case errors.Is(err, io.EOF):
		return &ConfigError{Field: "(file)", Msg: "empty"}
	}
	// A field's own UnmarshalJSON error: json wraps it without the name.
	return &ConfigError{Field: "(file)", Msg: err.Error()}
}

// ReadConfigFile reads and validates path. A missing file is the default
// configuration (a station installed by copying the binary works).
func ReadConfigFile(path string) (FileConfig, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return DefaultConfig(), nil
	}
	if err != nil {
		return FileConfig{}, fmt.Errorf("read config: %w", err)
	}
	return ParseConfig(bytes.NewReader(b))
}

// WriteConfigFile writes c to path atomically, readable by the service
// account only.
func WriteConfigFile(path string, c FileConfig) error {
	if err := c.Validate(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("config directory: %w", err)
	}
	return atomicfile.Write(path, append(b, '\n'), 0o600)
}

// ApplyConfig applies the live settings of c to a running agent: the sync
// interval from the next wait on, the server address from the next round.
// The log level belongs to whoever made the logger (cmd).
func (a *Agent) ApplyConfig(ctx context.Context, c FileConfig) error {
	a.live.interval.Store(int64(c.SyncInterval))
	if c.EvictFilesAfterDays > 0 {
		a.live.evictAfter.Store(int64(time.Duration(c.EvictFilesAfterDays) * 24 * time.Hour))
	} else {
		a.live.evictAfter.Store(-1) // never
	}
	if err := zone.Set(c.Timezone); err != nil {
		return fmt.Errorf("time zone: %w", err)
	}
	if c.Server != "" && a.Enrolled(ctx) && a.Store.text(ctx, metaServerURL) != c.Server {
		old := a.Store.text(ctx, metaServerURL)
		if err := a.Store.SetMeta(ctx, putMeta(metaValues{}, metaServerURL, c.Server)); err != nil {
			return fmt.Errorf("save server address: %w", err)
		}
		a.logger.Info("county server address changed", "old", old, "new", c.Server)
	}
	return nil
}

// syncInterval is the configured interval, as reloaded.
func (a *Agent) syncInterval() time.Duration {
	if d := time.Duration(a.live.interval.Load()); d > 0 {
		return d
	}
	return a.cfg.SyncInterval
}

// liveConfig holds the settings a config reload changes while Run runs.
type liveConfig struct {
	interval atomic.Int64 // time.Duration; 0: Config.SyncInterval
	// evictAfter is time.Duration; 0: Config.Attach.EvictAfter, negative
	// never (attach_evict.go).
	evictAfter atomic.Int64
}

// loadKeyEnrolledElsewhere picks up an enrollment made by another process
// (`station-agent enroll` beside the running service): the key file is
// read once the enrollment is complete, i.e. once station_id is stored,
// which happens after the key is written.
func (a *Agent) loadKeyEnrolledElsewhere(ctx context.Context) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.key != nil || a.Store.text(ctx, metaStationID) == "" {
		return
	}
	if err := a.loadKey(); err != nil {
		a.logger.Error("station key", "err", err)
		return
	}
	if a.key != nil {
		a.logger.Info("enrolment made by another program picked up", "station", a.Store.text(ctx, metaStationID))
	}
}
