package node

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"gopkg.in/yaml.v3"
)

// DefaultYAML is the default configuration as YAML, with comments: what
// `nitro serve --print-default-config` prints and what Default parses.
//
//go:embed default.yaml
var DefaultYAML []byte

// Config is a node's whole configuration. Load reads it from YAML over
// Default; see default.yaml (and CONFIG.md) for every field's meaning.
type Config struct {
	// Region is this node's region, stamped on every record it writes.
	Region string `yaml:"region"`
	// Node is this node's name; "" means the host name.
	Node string `yaml:"node"`
	// DataDir is the directory of the Badger database.
	DataDir string `yaml:"data_dir"`
	// Swift configures the Swift API listener and tempauth.
	Swift SwiftConfig `yaml:"swift"`
	// OpsListen is the operator listener's TCP address (/metrics,
	// /healthz, /stats, POST /gc); "" disables it.
	OpsListen string `yaml:"ops_listen"`
	// Store configures the chunk store.
	Store StoreConfig `yaml:"store"`
	// GC configures garbage collection.
	GC GCConfig `yaml:"gc"`
	// ShutdownTimeout bounds the graceful shutdown's wait for requests in
	// flight.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Log configures logging.
	Log LogConfig `yaml:"log"`
	// Cluster configures the multi-region parts (cluster.go); empty for a
	// single-region node.
	Cluster ClusterConfig `yaml:"cluster"`
	// Keystone configures Keystone v3 token validation and keystoneauth's
	// authorization (keystone_config.go); off while AuthURL is "".
	Keystone KeystoneConfig `yaml:"keystone"`
}

// SwiftConfig configures the Swift API.
type SwiftConfig struct {
	// Listen is the TCP address; port 0 picks a free one (Node.SwiftAddr).
	Listen string `yaml:"listen"`
	// StorageURL is the base of X-Storage-Url; "" means from the request.
	StorageURL string `yaml:"storage_url"`
	// ResellerPrefix prefixes account names in URLs ("AUTH_").
	ResellerPrefix string `yaml:"reseller_prefix"`
	// TokenTTL is the tempauth token lifetime (> 0).
	TokenTTL time.Duration `yaml:"token_ttl"`
	// HealthcheckDisableFile: while it exists, /healthcheck answers 503.
	HealthcheckDisableFile string `yaml:"healthcheck_disable_file"`
	// MaxFileSize is the largest object body in bytes (> 0).
	MaxFileSize int64 `yaml:"max_file_size"`
	// Accounts are the tempauth accounts.
	Accounts []AccountConfig `yaml:"accounts"`
	// TLSCertFile and TLSKeyFile are PEM files of the listener's
	// certificate (chain) and private key; set both to serve HTTPS, leave
	// both empty for plain HTTP.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// ClientTimeout is Swift's client_timeout: a PUT body read waiting
	// longer gets 408 and commits nothing (> 0).
	ClientTimeout time.Duration `yaml:"client_timeout"`
	// MaxUploads bounds the PUTs reading bodies at once (> 0).
	MaxUploads int `yaml:"max_uploads"`
	// UploadWait bounds a PUT's wait for an upload slot, then 503 (> 0).
	UploadWait time.Duration `yaml:"upload_wait"`
	// TempURLMethods are the methods a temp URL may sign (Swift's tempurl
	// methods; empty: GET HEAD PUT POST DELETE).
	TempURLMethods []string `yaml:"tempurl_methods"`
	// TempURLDigests are the temp URL HMAC digests accepted, of sha1,
	// sha256, sha512 (Swift's allowed_digests; empty: all three).
	TempURLDigests []string `yaml:"tempurl_digests"`

	// IdleTimeout is how long a keep-alive connection may sit idle
	// between requests before the server closes it (> 0).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// ReadHeaderTimeout bounds reading a request's headers, counted from
	// its first byte (not from the end of the previous response) (> 0).
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// DisableKeepAlive answers every request with Connection: close and
	// closes the connection after the response (HTTP/1.0 style, as
	// Python's http.server does), for clients that mishandle keep-alive.
	DisableKeepAlive bool `yaml:"disable_keep_alive"`
}

// AccountConfig is one tempauth account.
type AccountConfig struct {
	// Name is the account name without the reseller prefix.
	Name  string       `yaml:"name"`
	Users []UserConfig `yaml:"users"`
}

// UserConfig is one tempauth user.
type UserConfig struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
	// Roles: "admin" (owns the account) and "reseller_admin" (every
	// account). None: reaches only containers whose ACLs name the user.
	Roles []string `yaml:"roles"`
}

// Role names of UserConfig.Roles.
const (
	RoleAdmin         = "admin"
	RoleResellerAdmin = "reseller_admin"
)

// StoreConfig configures the chunk store (see chunkstore.Config).
type StoreConfig struct {
	// MinSize, AvgSize, MaxSize are chunk sizes in bytes; 0: defaults.
	MinSize int `yaml:"min_size"`
	AvgSize int `yaml:"avg_size"`
	MaxSize int `yaml:"max_size"`
	// CompressionLevel: 1..4, -1 off, 0 default.
	CompressionLevel int `yaml:"compression_level"`
	// Workers is the hash+compress pool size; 0: GOMAXPROCS.
	Workers int `yaml:"workers"`
	// TouchAfter: see chunkstore.Config.TouchAfter; 0: its default (10m).
	TouchAfter time.Duration `yaml:"touch_after"`
	// ReserveBytes is the free disk space in bytes that new data never
	// eats into (PUTs get 507); 0: chunkstore.DefaultReserve (384 MiB),
	// negative: no check. See chunkstore.Config.ReserveBytes.
	ReserveBytes int64 `yaml:"reserve_bytes"`
	// ReservePercent raises the reserve to this percentage of the file
	// system's size; 0: off.
	ReservePercent float64 `yaml:"reserve_percent"`
	// MemoryBudget bounds the chunk buffers of all uploads and downloads
	// in flight, in bytes (see chunkstore.Config.WriteBudget); 0: the
	// chunkstore defaults.
	MemoryBudget int64 `yaml:"memory_budget"`
	// MemoryLimit is the Go runtime's soft memory limit in bytes that
	// `nitro serve` sets (debug.SetMemoryLimit) unless GOMEMLIMIT is set;
	// 0: none.
	MemoryLimit int64 `yaml:"memory_limit"`
	// RecipeCacheBytes bounds the memory of decoded recipes and their
	// offset indexes kept for Range reads; 0: chunkstore's default (64
	// MiB), negative: no cache. See chunkstore.Config.RecipeCacheBytes.
	RecipeCacheBytes int64 `yaml:"recipe_cache_bytes"`
	// ChunkCacheBytes bounds the memory of verified plain chunks kept for
	// the next small Range read; 0: chunkstore's default (16 MiB),
	// negative: no cache. See chunkstore.Config.ChunkCacheBytes.
	ChunkCacheBytes int64 `yaml:"chunk_cache_bytes"`
	// Backend is where chunk data lives: "badger" (inline in data_dir,
	// the default) or "swift" (the region's object cluster, Swift).
	Backend string `yaml:"backend"`
	// Swift configures the "swift" backend (store_backend.go).
	Swift StoreSwiftConfig `yaml:"swift"`
}

// GCConfig configures garbage collection.
type GCConfig struct {
	// Interval between periodic collections; 0 disables them.
	Interval time.Duration `yaml:"interval"`
	// Grace protects chunks and recipes younger than it.
	Grace time.Duration `yaml:"grace"`
	// ReclaimAge is how long deletion tombstones are kept.
	ReclaimAge time.Duration `yaml:"reclaim_age"`
}

// LogConfig configures the zap logger.
type LogConfig struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is console or json.
	Format string `yaml:"format"`
}

// defaultTouchAfter mirrors chunkstore.DefaultTouchAfter for validation.
const defaultTouchAfter = 10 * time.Minute

// Default returns the default configuration (default.yaml).
func Default() Config {
	var c Config
	if err := decode(bytes.NewReader(DefaultYAML), &c); err != nil {
		panic("node: default.yaml: " + err.Error())
	}
	return c
}

// Load reads the YAML configuration file path over Default and validates
// it. Unknown keys are errors.
func Load(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	return Parse(f, path)
}

// Parse reads YAML from r over Default and validates it; name is used in
// errors.
func Parse(r io.Reader, name string) (Config, error) {
	c := Default()
	if err := decode(r, &c); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", name, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", name, err)
	}
	return c, nil
}

func decode(r io.Reader, c *Config) error {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	err := dec.Decode(c)
	if errors.Is(err, io.EOF) { // empty document
		return nil
	}
	return err
}

// DevAccounts reports whether c uses the built-in developer accounts of
// default.yaml, whose credentials `nitro serve` prints at start-up.
func (c *Config) DevAccounts() bool {
	return reflect.DeepEqual(c.Swift.Accounts, Default().Swift.Accounts)
}

// fieldError names the YAML field of a validation failure.
func fieldError(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
}

// positive adds "must be positive, got V" for field when v is not.
func positive[T ~int | ~int64](add func(field, format string, args ...any), field string, v T) {
	if v <= 0 {
		add(field, "must be positive, got %v", v)
	}
}

// nonNegative adds "must not be negative, got V" for field when v is.
func nonNegative[T ~int | ~int64](add func(field, format string, args ...any), field string, v T) {
	if v < 0 {
		add(field, "must not be negative, got %v", v)
	}
}

// Validate checks c; errors name the YAML field ("gc.grace: ...").
func (c *Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) { errs = append(errs, fieldError(field, format, args...)) }
	if c.Region == "" {
		add("region", "must not be empty")
	} else if strings.ContainsAny(c.Region, " \t\n\x00/") {
		add("region", "%q must not contain spaces, NUL or '/'", c.Region)
	}
	if c.DataDir == "" {
		add("data_dir", "must not be empty")
	}
	checkAddr := func(field, addr string, optional bool) {
		if addr == "" {
			if !optional {
				add(field, "must not be empty")
			}
			return
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			add(field, "%q is not host:port: %v", addr, err)
		}
	}
	checkAddr("swift.listen", c.Swift.Listen, false)
	checkAddr("ops_listen", c.OpsListen, true)
	if u := c.Swift.StorageURL; u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		add("swift.storage_url", "%q must start with http:// or https://", u)
	}
	positive(add, "swift.token_ttl", c.Swift.TokenTTL)
	positive(add, "swift.max_file_size", c.Swift.MaxFileSize)
	positive(add, "swift.client_timeout", c.Swift.ClientTimeout)
	positive(add, "swift.max_uploads", c.Swift.MaxUploads)
	positive(add, "swift.upload_wait", c.Swift.UploadWait)
	positive(add, "swift.idle_timeout", c.Swift.IdleTimeout)
	positive(add, "swift.read_header_timeout", c.Swift.ReadHeaderTimeout)
	users := map[string]bool{}
	for i, a := range c.Swift.Accounts {
		f := fmt.Sprintf("swift.accounts[%d]", i)
		if a.Name == "" || strings.ContainsAny(a.Name, ":/\x00") {
			add(f+".name", "%q must be non-empty without ':', '/' or NUL", a.Name)
		}
		for j, u := range a.Users {
			uf := fmt.Sprintf("%s.users[%d]", f, j)
			if u.Name == "" || strings.ContainsAny(u.Name, ":/\x00") {
				add(uf+".name", "%q must be non-empty without ':', '/' or NUL", u.Name)
			}
			if u.Key == "" {
				add(uf+".key", "must not be empty")
			}
			if id := a.Name + ":" + u.Name; users[id] {
				add(uf+".name", "duplicate user %q", id)
			} else {
				users[id] = true
			}
			for _, r := range u.Roles {
				if r != RoleAdmin && r != RoleResellerAdmin {
					add(uf+".roles", "unknown role %q (want %q or %q)", r, RoleAdmin, RoleResellerAdmin)
				}
			}
		}
	}
	s := c.Store
	if s.MinSize < 0 || s.AvgSize < 0 || s.MaxSize < 0 {
		add("store", "chunk sizes must not be negative")
	}
	if s.AvgSize != 0 && s.AvgSize&(s.AvgSize-1) != 0 {
		add("store.avg_size", "%d is not a power of two", s.AvgSize)
	}
	if s.CompressionLevel < -1 || s.CompressionLevel > 4 {
		add("store.compression_level", "%d: want -1 (off), 0 (default) or 1..4", s.CompressionLevel)
	}
	nonNegative(add, "store.workers", s.Workers)
	nonNegative(add, "store.touch_after", s.TouchAfter)
	if s.ReservePercent < 0 || s.ReservePercent >= 100 {
		add("store.reserve_percent", "%v: want 0 <= percent < 100", s.ReservePercent)
	}
	nonNegative(add, "store.memory_budget", s.MemoryBudget)
	nonNegative(add, "store.memory_limit", s.MemoryLimit)
	touch := s.TouchAfter
	if touch == 0 {
		touch = defaultTouchAfter
	}
	nonNegative(add, "gc.interval", c.GC.Interval)
	if c.GC.Grace < 2*touch {
		add("gc.grace", "%v must be at least 2×store.touch_after (%v)", c.GC.Grace, 2*touch)
	}
	positive(add, "gc.reclaim_age", c.GC.ReclaimAge)
	positive(add, "shutdown_timeout", c.ShutdownTimeout)
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(c.Log.Level)); err != nil {
		add("log.level", "%q: want debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Format != "console" && c.Log.Format != "json" {
		add("log.format", "%q: want console or json", c.Log.Format)
	}
	c.Cluster.validate(add) // cluster.go
	validateTLS(add, "swift", tlsFiles{c.Swift.TLSCertFile, c.Swift.TLSKeyFile})
	c.validateKeystone(add) // keystone_config.go
	// store.backend and store.swift: store_backend.go
	c.validateStoreBackend(add)
	return errors.Join(errs...)
}

// NewLogger returns the zap logger c.Log describes, writing to stderr.
func (c *Config) NewLogger() (*zap.Logger, error) {
	log, _, err := c.NewLoggerLevel()
	return log, err
}

// NewLoggerLevel is NewLogger that also returns the logger's level, which
// Node.Reload changes on SIGHUP.
func (c *Config) NewLoggerLevel() (*zap.Logger, zap.AtomicLevel, error) {
	var zc zap.Config
	if c.Log.Format == "json" {
		zc = zap.NewProductionConfig()
		// No sampling: past 100 equal messages a second zap's production
		// config drops most of them, and an access log that loses lines
		// under load misleads the operator exactly when it matters.
		zc.Sampling = nil
	} else {
		zc = zap.NewDevelopmentConfig()
		zc.Development = false
		zc.DisableStacktrace = true
		zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	}
	lvl, err := zap.ParseAtomicLevel(c.Log.Level)
	if err != nil {
		return nil, lvl, fmt.Errorf("log.level: %w", err)
	}
	zc.Level = lvl
	zc.OutputPaths, zc.ErrorOutputPaths = []string{"stderr"}, []string{"stderr"}
	log, err := zc.Build()
	if err != nil {
		return nil, lvl, err
	}
	return log.With(zap.String("region", c.Region)), lvl, nil
}
