package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	glanceshim "github.com/nitro-cloud/nitro/glance-shim"
	"github.com/nitro-cloud/nitro/node/internal/fetch"
	"github.com/nitro-cloud/nitro/node/internal/namespace"
	"github.com/nitro-cloud/nitro/node/internal/objects"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

// Node is one Nitro node: the store, the namespace, the object service,
// the Swift API listener, the optional ops listener and the periodic GC.
// Create it with New, run it with Run, then Close it.
type Node struct {
	cfg   Config
	log   *zap.Logger
	store *chunkstore.Store
	ns    *namespace.Namespace
	svc   *objects.Service
	// cluster is the multi-region machinery (cluster.go); nil for a
	// single-region node.
	cluster *cluster

	swiftLn, opsLn   net.Listener // opsLn nil: no ops listener
	swiftSrv, opsSrv *http.Server
	metrics          *metrics           // Prometheus collectors (metrics.go)
	shim             *glanceshim.Server // the Swift front end, for Reload
	reloadMu         sync.Mutex         // one Reload at a time; guards cfg's reloadable fields
	started          time.Time          // when New returned, for Status

	gcMu   sync.Mutex // one collection at a time
	lastGC GCResult   // guarded by gcMu
	// lastGCSnap is lastGC for readers that must not wait for a running
	// collection (Stats, the status page); nil: none yet.
	lastGCSnap atomic.Pointer[GCResult]

	closeOnce sync.Once
	closeErr  error
}

// New validates cfg, opens the store in cfg.DataDir (creating it) and
// binds the listeners, so SwiftAddr and OpsAddr are known when it returns.
// The caller must Close the node. log must not be nil.
//
// Badger lets one process open a data dir: a second node (or `nitro gc`)
// on the same dir fails here with an error that says so.
func New(cfg Config, log *zap.Logger) (_ *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("node: config: %w", err)
	}
	if cfg.Node == "" {
		cfg.Node, _ = os.Hostname()
	}
	n := &Node{cfg: cfg, log: log.Named("node")}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	n.store, err = OpenStore(cfg, log)
	if err != nil {
		return nil, err
	}
	n.ns, err = namespace.New(namespace.Config{Region: cfg.Region, ReclaimAge: cfg.GC.ReclaimAge},
		n.store.Records(), log.Named("namespace"))
	if err != nil {
		return nil, err
	}
	// The fetcher reports finished transfers to the metrics, which exist
	// once the object service does, before anything is served.
	n.cluster, err = newCluster(cfg, n.store, n.ns, log, func(t fetch.Transfer) { n.metrics.transfer(t) })
	if err != nil {
		return nil, err
	}
	n.svc, err = objects.New(n.store, n.ns, n.cluster.replicator(), n.cluster.remoteReader(), log.Named("objects"))
	if err != nil {
		return nil, err
	}
	n.metrics = newMetrics(n)
	auth, err := swiftAuthenticator(cfg, log)
	if err != nil {
		return nil, err
	}
	shim, err := glanceshim.New(shimConfig(cfg), n.svc, auth, log)
	if err != nil {
		return nil, fmt.Errorf("node: swift front end: %w", err)
	}
	var swiftTLS *tls.Config
	if f := (tlsFiles{cfg.Swift.TLSCertFile, cfg.Swift.TLSKeyFile}); f.enabled() {
		if swiftTLS, err = serverTLS("swift", f, ""); err != nil {
			return nil, err
		}
	}
	n.shim = shim
	n.swiftLn, err = net.Listen("tcp", cfg.Swift.Listen)
	if err != nil {
		return nil, fmt.Errorf("node: swift.listen: %w", err)
	}
	if swiftTLS != nil {
		n.swiftLn = tls.NewListener(n.swiftLn, swiftTLS)
	}
	n.swiftSrv = &http.Server{
		Handler: n.metrics.wrap(shim.Handler()),
		// Swift's client_timeout bounds header reads too (slowloris).
		ReadHeaderTimeout: min(cfg.Swift.ReadHeaderTimeout, cfg.Swift.ClientTimeout),
		IdleTimeout:       cfg.Swift.IdleTimeout,
		// No ReadTimeout/WriteTimeout: bodies of 5 GiB are normal.
		ErrorLog: zap.NewStdLog(log.Named("http")),
	}
	if cfg.Swift.DisableKeepAlive {
		n.swiftSrv.SetKeepAlivesEnabled(false)
	}
	if cfg.OpsListen != "" {
		n.opsLn, err = net.Listen("tcp", cfg.OpsListen)
		if err != nil {
			return nil, fmt.Errorf("node: ops_listen: %w", err)
		}
		n.opsSrv = &http.Server{Handler: n.opsHandler(), ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: zap.NewStdLog(log.Named("ops-http"))}
	}
	n.started = time.Now()
	n.log.Info("node ready", zap.String("node", cfg.Node), zap.String("data_dir", cfg.DataDir),
		zap.Stringer("swift", n.swiftLn.Addr()), zap.String("ops", n.OpsAddr()))
	return n, nil
}

// OpenStore opens the chunk store in cfg.DataDir (creating the directory)
// with cfg.Store's settings, for the node and for the offline `nitro gc` and
// `nitro fsck`. It fails with a clear error when another process holds the
// directory.
func OpenStore(cfg Config, log *zap.Logger) (*chunkstore.Store, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("node: data_dir: %w", err)
	}
	s := cfg.Store
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cluster, err := openCluster(ctx, cfg) // store_backend.go
	if err != nil {
		return nil, err
	}
	st, err := chunkstore.Open(chunkstore.Config{
		Dir: cfg.DataDir, MinSize: s.MinSize, AvgSize: s.AvgSize, MaxSize: s.MaxSize,
		CompressionLevel: s.CompressionLevel, Workers: s.Workers, TouchAfter: s.TouchAfter,
		ReserveBytes: s.ReserveBytes, ReservePercent: s.ReservePercent,
		WriteBudget: s.MemoryBudget / 4 * 3, ReadBudget: s.MemoryBudget / 4,
		RecipeCacheBytes: s.RecipeCacheBytes,
		Cluster:          cluster, ClusterConcurrency: s.Swift.Concurrency,
	}, log)
	if err != nil {
		return nil, fmt.Errorf("node: opening the store in %s (a running nitro node holds it: stop it first): %w", cfg.DataDir, err)
	}
	return st, nil
}

// shimConfig maps the node's configuration to the Swift front end's.
func shimConfig(cfg Config) glanceshim.Config {
	sc := glanceshim.Config{
		ResellerPrefix: cfg.Swift.ResellerPrefix,
		TokenTTL:       cfg.Swift.TokenTTL,
		StorageURL:     cfg.Swift.StorageURL,
		DisableFile:    cfg.Swift.HealthcheckDisableFile,
		MaxFileSize:    cfg.Swift.MaxFileSize,
		Keystone:       keystoneAuthConfig(cfg),
		ClientTimeout:  cfg.Swift.ClientTimeout,
		MaxUploads:     cfg.Swift.MaxUploads,
		UploadWait:     cfg.Swift.UploadWait,
		TempURL:        &glanceshim.TempURLConfig{Methods: cfg.Swift.TempURLMethods, AllowedDigests: cfg.Swift.TempURLDigests},
	}
	for _, a := range cfg.Swift.Accounts {
		acct := glanceshim.Account{Name: a.Name}
		for _, u := range a.Users {
			acct.Users = append(acct.Users, glanceshim.User{
				Name: u.Name, Key: u.Key,
				Admin:         slices.Contains(u.Roles, RoleAdmin),
				ResellerAdmin: slices.Contains(u.Roles, RoleResellerAdmin),
			})
		}
		sc.Accounts = append(sc.Accounts, acct)
	}
	return sc
}

// SwiftAddr returns the Swift API's bound address ("127.0.0.1:38211").
func (n *Node) SwiftAddr() string { return n.swiftLn.Addr().String() }

// OpsAddr returns the ops listener's bound address, "" when it is off.
func (n *Node) OpsAddr() string {
	if n.opsLn == nil {
		return ""
	}
	return n.opsLn.Addr().String()
}

// Config returns the node's configuration (with Node filled in, and the
// settings Reload applied).
func (n *Node) Config() Config {
	n.reloadMu.Lock()
	defer n.reloadMu.Unlock()
	return n.cfg
}

// Run serves until ctx is done, then shuts down gracefully: the listeners
// stop accepting, requests in flight get up to cfg.ShutdownTimeout to
// finish, and the GC loop stops. It returns nil after a clean shutdown, or
// the first error of a server or of the GC loop. Run may be called once;
// Close the node after it returns.
func (n *Node) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	serve := func(name string, srv *http.Server, ln net.Listener) {
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("node: %s server: %w", name, err)
			}
			return nil
		})
		g.Go(func() error {
			<-gctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownTimeout)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				n.log.Warn("shutdown timed out; closing connections", zap.String("server", name), zap.Error(err))
				srv.Close()
			}
			return nil
		})
	}
	serve("swift", n.swiftSrv, n.swiftLn)
	if n.opsSrv != nil {
		serve("ops", n.opsSrv, n.opsLn)
	}
	if n.cfg.GC.Interval > 0 {
		g.Go(func() error { n.gcLoop(gctx); return nil })
	}
	if n.cluster != nil {
		g.Go(func() error { return n.cluster.run(gctx, n.cfg.ShutdownTimeout) })
	}
	err := g.Wait()
	n.log.Info("stopped", zap.Error(err))
	return err
}

// Close closes the listeners (if Run did not) and the store, which flushes
// Badger. It is idempotent; call it after Run has returned.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		for _, ln := range []net.Listener{n.swiftLn, n.opsLn} {
			if ln != nil {
				ln.Close()
			}
		}
		if n.cluster != nil {
			n.cluster.close()
		}
		if n.store != nil {
			n.closeErr = n.store.Close()
		}
	})
	return n.closeErr
}
