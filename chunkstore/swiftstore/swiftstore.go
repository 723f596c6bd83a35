// Package swiftstore is chunkstore's "swift" backend: a region's chunks and
// recipes as objects on the region's object cluster, through the OpenStack
// Swift API v1 (OpenStack Swift, Ceph RGW), with gophercloud/v2's
// objectstorage v1 client, authenticated by tempauth/swauth (auth v1) or
// Keystone v3 (password).
//
// Layout (shared with the region GC, node/internal/regiongc):
//
//   - chunks: container <prefix>-chunks-<H>, H the first k hex digits of the
//     chunk ID (k = log16(containers); one container: <prefix>-chunks),
//     object name the 64-hex chunk ID, body the stored form exactly as
//     Badger holds it in the badger backend (codec byte, then the data);
//     immutable, verified by the reader (chunkstore);
//   - recipes: <prefix>-recipes-<H>, object name the recipe ID in hex, body
//     the recipe's encoding;
//   - fossils (the region GC's first step): <prefix>-fossils-<H>, same names
//     and bodies as the chunks; recipe fossils in <prefix>-recipe-fossils-<H>
//     (a chunk ID and a recipe ID may be equal); readers fall back to them;
//   - touch time of an object: max(Last-Modified, X-Object-Meta-Nitro-Touched
//     in unix seconds). A write relying on a chunk the cluster holds (its
//     upload skipped) first makes the touch time younger than TouchAfter
//     (a POST when it is not); a chunk absent from its chunk container is
//     uploaded even if a fossil exists.
//
// With Config.PackSize > 0, Writes put their new chunks into pack objects
// (<prefix>-packs, indexes in <prefix>-pack-index; packs.go) instead of
// one object per chunk; chunk objects stay readable.
//
// Open creates the containers the account lacks (one listing when they
// exist); a PUT answered 404 (a container deleted since) creates its
// container and retries. Every request is bounded by Config.Concurrency,
// retried on 5xx and transport errors (every operation is idempotent: a
// chunk's bytes are fixed by its ID), and re-authenticates on 401.
package swiftstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/containers"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/swauth"
	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"golang.org/x/sync/errgroup"
)

// TouchedHeader is the object metadata header holding an object's touch
// time in unix seconds (Swift's X-Object-Meta-*; a POST replaces it).
const TouchedHeader = "X-Object-Meta-Nitro-Touched"

// Defaults of Config's zero fields.
const (
	DefaultContainerPrefix = "nitro"
	DefaultContainers      = 256
	DefaultConcurrency     = 16
	DefaultTimeout         = 60 * time.Second
)

// Config says how to reach the cluster and how the objects are laid out.
// Key is a secret: String redacts it, and nothing in this package logs it.
type Config struct {
	// AuthURL is the tempauth v1 endpoint (http://HOST:8080/auth/v1.0) or
	// Keystone's v3 endpoint (http://HOST:5000/v3).
	AuthURL string
	// AuthVersion is 1 (tempauth/swauth: X-Auth-User/X-Auth-Key) or 3
	// (Keystone v3 password); 0 means 1.
	AuthVersion int
	// User is "account:user" for v1, the user name for v3.
	User string
	// Key is the v1 key or the v3 password.
	Key string
	// Project, UserDomain, ProjectDomain: v3 only (domains default to
	// "Default").
	Project, UserDomain, ProjectDomain string
	// RegionName is the catalog region of the object-store endpoint (v3;
	// "" takes the first).
	RegionName string
	// ContainerPrefix prefixes every container name; "" means
	// DefaultContainerPrefix.
	ContainerPrefix string
	// Containers is the number of containers per kind (chunks, recipes,
	// fossils): 1, 16, 256 or 4096; 0 means DefaultContainers.
	Containers int
	// Concurrency bounds the requests in flight; 0 means
	// DefaultConcurrency.
	Concurrency int
	// Timeout bounds each request, its body included; 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// Transport is the HTTP transport (tests count requests with it); nil
	// means one with Concurrency idle connections kept per host.
	Transport http.RoundTripper
	// PackSize is the size in bytes at which a Write's pack of chunks is
	// PUT as one object (packs.go); 0 stores one object per chunk.
	PackSize int
}

// String describes c without its key.
func (c Config) String() string {
	return fmt.Sprintf("swift{auth_url=%s auth_version=%d user=%s key=<redacted> project=%s prefix=%s containers=%d}",
		c.AuthURL, c.AuthVersion, c.User, c.Project, c.ContainerPrefix, c.Containers)
}

// normalize fills c's zero fields and validates it.
func (c Config) normalize() (Config, error) {
	if c.AuthVersion == 0 {
		c.AuthVersion = 1
	}
	if c.ContainerPrefix == "" {
		c.ContainerPrefix = DefaultContainerPrefix
	}
	if c.Containers == 0 {
		c.Containers = DefaultContainers
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.PackSize < 0 {
		c.PackSize = 0
	}
	if c.UserDomain == "" {
		c.UserDomain = "Default"
	}
	if c.ProjectDomain == "" {
		c.ProjectDomain = "Default"
	}
	var errs []error
	if !strings.HasPrefix(c.AuthURL, "http://") && !strings.HasPrefix(c.AuthURL, "https://") {
		errs = append(errs, fmt.Errorf("auth_url %q must start with http:// or https://", c.AuthURL))
	}
	if c.AuthVersion == 1 && !strings.HasSuffix(c.AuthURL, "/auth/v1.0") {
		errs = append(errs, fmt.Errorf("auth_url %q: tempauth's endpoint ends in /auth/v1.0", c.AuthURL))
	}
	if c.AuthVersion != 1 && c.AuthVersion != 3 {
		errs = append(errs, fmt.Errorf("auth_version %d: want 1 or 3", c.AuthVersion))
	}
	if c.User == "" || c.Key == "" {
		errs = append(errs, errors.New("user and key must not be empty"))
	}
	if c.AuthVersion == 3 && c.Project == "" {
		errs = append(errs, errors.New("project must not be empty with auth_version 3"))
	}
	if _, err := digitsFor(c.Containers); err != nil {
		errs = append(errs, err)
	}
	if err := checkPrefix(c.ContainerPrefix); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("swiftstore: %w", err)
	}
	return c, nil
}

// checkPrefix rejects prefixes that cannot start a container name.
func checkPrefix(p string) error {
	if strings.ContainsAny(p, "/\x00") || len(p) > 200 {
		return fmt.Errorf("container_prefix %q: no '/' or NUL, at most 200 bytes", p)
	}
	return nil
}

// digitsFor returns log16(n) for the valid container counts.
func digitsFor(n int) (int, error) {
	switch n {
	case 1:
		return 0, nil
	case 16:
		return 1, nil
	case 256:
		return 2, nil
	case 4096:
		return 3, nil
	}
	return 0, fmt.Errorf("containers %d: want 1, 16, 256 or 4096", n)
}

// Layout names the containers and objects of a cluster (see the package
// doc). The zero value is not valid: use NewLayout.
type Layout struct {
	prefix string
	digits int
}

// NewLayout returns the layout of prefix with containers per kind (1, 16,
// 256 or 4096).
func NewLayout(prefix string, containers int) (Layout, error) {
	d, err := digitsFor(containers)
	if err != nil {
		return Layout{}, err
	}
	if err := checkPrefix(prefix); err != nil {
		return Layout{}, err
	}
	return Layout{prefix: prefix, digits: d}, nil
}

// Kinds of containers.
const (
	KindChunks  = "chunks"
	KindRecipes = "recipes"
	KindFossils = "fossils"
	// KindRecipeFossils holds the region GC's recipe fossils, apart from
	// the chunk fossils because a chunk ID and a recipe ID may be equal
	// (node/internal/regiongc).
	KindRecipeFossils = "recipe-fossils"
)

// Unsharded returns the one container of kind (the pack kinds: packs
// are listed in name order, so they are not sharded).
func (l Layout) Unsharded(kind string) string { return l.prefix + "-" + kind }

// Container returns the container of kind (KindChunks, …) holding the
// object named hexID (a 64-hex ID).
func (l Layout) Container(kind, hexID string) string {
	if l.digits == 0 {
		return l.prefix + "-" + kind
	}
	return l.prefix + "-" + kind + "-" + hexID[:l.digits]
}

// Containers returns every container name of kind, in order.
func (l Layout) Containers(kind string) []string {
	if l.digits == 0 {
		return []string{l.prefix + "-" + kind}
	}
	n := 1 << (4 * l.digits)
	out := make([]string, n)
	for i := range n {
		out[i] = fmt.Sprintf("%s-%s-%0*x", l.prefix, kind, l.digits, i)
	}
	return out
}

// NewClient authenticates with c (v1 or v3) and returns an object-storage
// client that re-authenticates when its token expires. The region GC
// uses it to list, move and delete objects of the same layout.
func NewClient(ctx context.Context, c Config) (*gophercloud.ServiceClient, error) {
	c, err := c.normalize()
	if err != nil {
		return nil, err
	}
	return newClient(ctx, c)
}

func newClient(ctx context.Context, c Config) (*gophercloud.ServiceClient, error) {
	tr := c.Transport
	if tr == nil {
		tr = &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        2 * c.Concurrency,
			MaxIdleConnsPerHost: c.Concurrency,
			IdleConnTimeout:     90 * time.Second,
		}
	}
	hc := http.Client{Transport: tr}
	switch c.AuthVersion {
	case 3:
		pc, err := openstack.NewClient(c.AuthURL)
		if err != nil {
			return nil, fmt.Errorf("swiftstore: keystone client: %w", err)
		}
		pc.HTTPClient = hc
		opts := gophercloud.AuthOptions{
			IdentityEndpoint: c.AuthURL, Username: c.User, Password: c.Key, DomainName: c.UserDomain,
			AllowReauth: true,
			Scope:       &gophercloud.AuthScope{ProjectName: c.Project, DomainName: c.ProjectDomain},
		}
		if err := openstack.Authenticate(ctx, pc, opts); err != nil {
			return nil, fmt.Errorf("swiftstore: keystone v3 auth as %s: %w", c.User, err)
		}
		sc, err := openstack.NewObjectStorageV1(pc, gophercloud.EndpointOpts{Region: c.RegionName})
		if err != nil {
			return nil, fmt.Errorf("swiftstore: object-store endpoint: %w", err)
		}
		return sc, nil
	default:
		base := strings.TrimSuffix(c.AuthURL, "auth/v1.0") // swauth appends it
		pc := &gophercloud.ProviderClient{HTTPClient: hc, IdentityBase: base, IdentityEndpoint: c.AuthURL}
		pc.UseTokenLock()
		opts := swauth.AuthOpts{User: c.User, Key: c.Key}
		sc, err := swauth.NewObjectStorageV1(ctx, pc, opts)
		if err != nil {
			return nil, fmt.Errorf("swiftstore: tempauth as %s: %w", c.User, err)
		}
		pc.ReauthFunc = func(ctx context.Context) error {
			tpc := &gophercloud.ProviderClient{HTTPClient: hc, IdentityBase: base, IdentityEndpoint: c.AuthURL}
			auth, err := swauth.Auth(ctx, tpc, opts).Extract()
			if err != nil {
				return fmt.Errorf("swiftstore: tempauth as %s: %w", c.User, err)
			}
			pc.SetToken(auth.Token)
			return nil
		}
		return sc, nil
	}
}

// Store is chunkstore.Cluster on a Swift cluster. Safe for concurrent use.
type Store struct {
	sc      *gophercloud.ServiceClient
	layout  Layout
	sem     chan struct{}
	timeout time.Duration
	packs   int // Config.PackSize
}

var _ chunkstore.Cluster = (*Store)(nil)

// Open authenticates with c and returns the store. Errors name the config
// problem or the failed authentication (never the key).
func Open(ctx context.Context, c Config) (*Store, error) {
	c, err := c.normalize()
	if err != nil {
		return nil, err
	}
	sc, err := newClient(ctx, c)
	if err != nil {
		return nil, err
	}
	l, _ := NewLayout(c.ContainerPrefix, c.Containers)
	s := &Store{sc: sc, layout: l, sem: make(chan struct{}, c.Concurrency), timeout: c.Timeout, packs: c.PackSize}
	if err := s.EnsureContainers(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Layout returns the store's layout.
func (s *Store) Layout() Layout { return s.layout }

// Client returns the authenticated object-storage client.
func (s *Store) Client() *gophercloud.ServiceClient { return s.sc }

// do runs op with a concurrency slot and a timeout, retrying transport
// errors and 5xx answers (at most 5 attempts, 0.25–2 s apart: a loaded
// proxy answers 503 when its memcache is out of reach).
func (s *Store) do(ctx context.Context, op func(ctx context.Context) error) error {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.sem }()
	var err error
	for attempt := range 5 {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(250<<(attempt-1)) * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		rctx, cancel := context.WithTimeout(ctx, s.timeout)
		err = op(rctx)
		cancel()
		if err == nil || !retryable(ctx, err) {
			return err
		}
	}
	return err
}

// retryable reports whether err is a 5xx answer or a transport failure
// (not the caller's cancellation).
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var ue gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &ue) {
		return ue.Actual >= 500
	}
	return true
}

// notFound wraps chunkstore.ErrNotFound for a 404.
func notFound(err error, what string) error {
	if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return fmt.Errorf("%w: %s", chunkstore.ErrNotFound, what)
	}
	return fmt.Errorf("swiftstore: %s: %w", what, err)
}

// put PUTs body as container/name, creating the container on a 404.
func (s *Store) put(ctx context.Context, container, name string, body []byte) error {
	sum := md5.Sum(body)
	etag := hex.EncodeToString(sum[:])
	create := func(ctx context.Context) error {
		return objects.Create(ctx, s.sc, container, name, objects.CreateOpts{
			Content: bytes.NewReader(body), ContentLength: int64(len(body)), ETag: etag,
			ContentType: "application/octet-stream",
		}).Err
	}
	err := s.do(ctx, create)
	// A missing container (deleted by an operator): create it; the proxy
	// may answer 404 from its cache of the container's absence for a few
	// seconds more (Swift's recheck_container_existence / 10).
	for wait := 250 * time.Millisecond; gophercloud.ResponseCodeIs(err, http.StatusNotFound) && wait <= 8*time.Second; wait *= 2 {
		if err := s.ensure(ctx, container); err != nil {
			return err
		}
		if err = s.do(ctx, create); !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			break
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err != nil {
		return fmt.Errorf("swiftstore: put %s/%s: %w", container, name, err)
	}
	return nil
}

// ensure creates container (idempotent in Swift: 201 or 202).
func (s *Store) ensure(ctx context.Context, container string) error {
	err := s.do(ctx, func(ctx context.Context) error {
		return containers.Create(ctx, s.sc, container, nil).Err
	})
	if err != nil {
		return fmt.Errorf("swiftstore: create container %s: %w", container, err)
	}
	return nil
}

// EnsureContainers creates the containers of the layout (chunks, recipes,
// fossils) that the account's listing lacks: one listing request when
// they exist, else one PUT per missing container (Concurrency at once).
// Open calls it: Swift's proxy caches a container's absence for a few
// seconds, so a chunk PUT racing the creation of its container would be
// refused (put retries then, but a cluster set up at Open never is).
func (s *Store) EnsureContainers(ctx context.Context) error {
	have := map[string]bool{}
	err := s.do(ctx, func(ctx context.Context) error {
		pages, err := containers.List(s.sc, containers.ListOpts{Prefix: s.layout.prefix + "-"}).AllPages(ctx)
		if err != nil {
			return err
		}
		names, err := containers.ExtractNames(pages)
		for _, n := range names {
			have[n] = true
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("swiftstore: list containers: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cap(s.sem))
	for _, kind := range []string{KindChunks, KindRecipes, KindFossils, KindRecipeFossils} {
		for _, c := range s.layout.Containers(kind) {
			if !have[c] {
				g.Go(func() error { return s.ensure(gctx, c) })
			}
		}
	}
	for _, kind := range packKinds {
		if c := s.layout.Unsharded(kind); !have[c] {
			g.Go(func() error { return s.ensure(gctx, c) })
		}
	}
	return g.Wait()
}

// get GETs container/name into dst[:0] and returns it with its info.
func (s *Store) get(ctx context.Context, container, name string, dst []byte) ([]byte, chunkstore.ObjectInfo, error) {
	var info chunkstore.ObjectInfo
	err := s.do(ctx, func(ctx context.Context) error {
		r := objects.Download(ctx, s.sc, container, name, nil)
		if r.Err != nil {
			return r.Err
		}
		defer r.Body.Close()
		info = infoOf(r.Header)
		buf := bytes.NewBuffer(dst[:0])
		if info.Size > 0 && info.Size <= 16<<20 {
			buf.Grow(int(info.Size))
		}
		if _, err := io.Copy(buf, r.Body); err != nil {
			return err
		}
		dst = buf.Bytes()
		return nil
	})
	if err != nil {
		return nil, info, notFound(err, container+"/"+name)
	}
	return dst, info, nil
}

// infoOf reads an object's size and touch time from its headers.
func infoOf(h http.Header) chunkstore.ObjectInfo {
	var info chunkstore.ObjectInfo
	info.Size, _ = strconv.ParseInt(h.Get("Content-Length"), 10, 64)
	if t, err := http.ParseTime(h.Get("Last-Modified")); err == nil {
		info.Touched = t
	}
	if sec, err := strconv.ParseInt(h.Get(TouchedHeader), 10, 64); err == nil {
		if t := time.Unix(sec, 0); t.After(info.Touched) {
			info.Touched = t
		}
	}
	return info
}

// PutChunk implements chunkstore.Cluster.
func (s *Store) PutChunk(ctx context.Context, id recipe.ChunkID, val []byte) error {
	name := id.String()
	return s.put(ctx, s.layout.Container(KindChunks, name), name, val)
}

// GetChunk implements chunkstore.Cluster: the chunk container, then the
// fossil container.
func (s *Store) GetChunk(ctx context.Context, id recipe.ChunkID, dst []byte) ([]byte, chunkstore.ObjectInfo, error) {
	name := id.String()
	val, info, err := s.get(ctx, s.layout.Container(KindChunks, name), name, dst)
	if !errors.Is(err, chunkstore.ErrNotFound) {
		return val, info, err
	}
	val, info, err = s.get(ctx, s.layout.Container(KindFossils, name), name, dst)
	info.Fossil = err == nil
	return val, info, err
}

// StatChunk implements chunkstore.Cluster (a HEAD of the chunk container).
func (s *Store) StatChunk(ctx context.Context, id recipe.ChunkID) (chunkstore.ObjectInfo, error) {
	name := id.String()
	return s.stat(ctx, s.layout.Container(KindChunks, name), name)
}

// stat HEADs container/name; an absent object's error wraps
// chunkstore.ErrNotFound.
func (s *Store) stat(ctx context.Context, container, name string) (chunkstore.ObjectInfo, error) {
	var info chunkstore.ObjectInfo
	err := s.do(ctx, func(ctx context.Context) error {
		r := objects.Get(ctx, s.sc, container, name, nil)
		if r.Err != nil {
			return r.Err
		}
		info = infoOf(r.Header)
		return nil
	})
	if err != nil {
		return info, notFound(err, container+"/"+name)
	}
	return info, nil
}

// TouchChunk implements chunkstore.Cluster (a POST of TouchedHeader).
func (s *Store) TouchChunk(ctx context.Context, id recipe.ChunkID, now time.Time) error {
	name := id.String()
	return s.touch(ctx, s.layout.Container(KindChunks, name), name, now)
}

// touch POSTs TouchedHeader = now (unix seconds) to container/name; an
// absent object's error wraps chunkstore.ErrNotFound.
func (s *Store) touch(ctx context.Context, container, name string, now time.Time) error {
	err := s.do(ctx, func(ctx context.Context) error {
		return objects.Update(ctx, s.sc, container, name, objects.UpdateOpts{
			Metadata: map[string]string{"Nitro-Touched": strconv.FormatInt(now.Unix(), 10)},
		}).Err
	})
	if err != nil {
		return notFound(err, container+"/"+name)
	}
	return nil
}

// PutRecipe implements chunkstore.Cluster.
func (s *Store) PutRecipe(ctx context.Context, id recipe.ID, enc []byte) error {
	name := id.String()
	return s.put(ctx, s.layout.Container(KindRecipes, name), name, enc)
}

// GetRecipe implements chunkstore.Cluster.
func (s *Store) GetRecipe(ctx context.Context, id recipe.ID) ([]byte, error) {
	name := id.String()
	enc, _, err := s.get(ctx, s.layout.Container(KindRecipes, name), name, nil)
	if !errors.Is(err, chunkstore.ErrNotFound) {
		return enc, err
	}
	// A live recipe may be a fossil for a while (a sweep by a node whose
	// namespace lagged, or one racing the write): the next sweep moves it
	// back; meanwhile it is read from the fossil container.
	enc, _, err = s.get(ctx, s.layout.Container(KindRecipeFossils, name), name, nil)
	return enc, err
}
