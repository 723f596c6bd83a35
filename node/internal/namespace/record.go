package namespace

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// Kind is the kind of a record; its value is the first byte of the record's
// key.
type Kind byte

// Kinds of records.
const (
	KindAccount   Kind = 'a'
	KindContainer Kind = 'c'
	KindObject    Kind = 'o'
	// KindHolding records that a region holds every chunk of a recipe
	// (see holding.go).
	KindHolding Kind = 'h'
	// KindProfile is the boot profile of a recipe: the chunks the first
	// reads after its creation touched (see profile.go).
	KindProfile Kind = 'p'
	// kindStats is the local, derived per-container stats index: bases
	// and deltas (see stats.go).
	kindStats Kind = 's'
	// kindWriteMark is a container's write mark (see stats.go).
	kindWriteMark Kind = 'w'
)

// String returns "account", "container" or "object".
func (k Kind) String() string {
	switch k {
	case KindAccount:
		return "account"
	case KindContainer:
		return "container"
	case KindObject:
		return "object"
	case KindHolding:
		return "holding"
	case KindProfile:
		return "profile"
	case kindStats:
		return "stats"
	case kindWriteMark:
		return "write mark"
	}
	return fmt.Sprintf("kind(%#x)", byte(k))
}

// ErrInvalidName is returned (wrapped) for a name that cannot be stored:
// empty where a name is required, not UTF-8, or holding a NUL byte.
var ErrInvalidName = errors.New("namespace: invalid name")

// ErrNotFound is returned (wrapped) by Get for a key that has no record.
// A tombstone is a record: Get returns it with Deleted set.
var ErrNotFound = errors.New("namespace: not found")

// sep separates the names in a key. Swift forbids NUL in names, so it sorts
// before every name byte and a parent's key plus sep is a prefix of exactly
// its children's keys.
const sep = 0

// Key names one record. Account, Container and Object name accounts,
// containers and objects; Held and Holder name a holding (and only a
// holding).
type Key struct {
	Kind                       Kind
	Account, Container, Object string
	// Held is the recipe a holding or a boot profile is about.
	Held recipe.ID
	// Holder is the region a holding is about.
	Holder string
}

// AccountKey returns the key of an account record.
func AccountKey(account string) Key { return Key{Kind: KindAccount, Account: account} }

// ContainerKey returns the key of a container record.
func ContainerKey(account, container string) Key {
	return Key{Kind: KindContainer, Account: account, Container: container}
}

// ObjectKey returns the key of an object record.
func ObjectKey(account, container, object string) Key {
	return Key{Kind: KindObject, Account: account, Container: container, Object: object}
}

// ValidateName checks that name is non-empty, valid UTF-8 and free of NUL.
// what names the field in the error ("account", "container", "object").
func ValidateName(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty %s name", ErrInvalidName, what)
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("%w: %s name %q contains NUL", ErrInvalidName, what, name)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: %s name %q is not UTF-8", ErrInvalidName, what, name)
	}
	return nil
}

// Validate checks the names the kind needs (and only those).
func (k Key) Validate() error {
	if k.Kind == KindHolding {
		return k.validateHolding()
	}
	if k.Kind == KindProfile {
		return k.validateProfile()
	}
	if !k.Held.IsZero() || k.Holder != "" {
		return fmt.Errorf("%w: %v key with a holding's recipe or region", ErrInvalidName, k.Kind)
	}
	if err := ValidateName("account", k.Account); err != nil {
		return err
	}
	switch k.Kind {
	case KindAccount:
		if k.Container != "" || k.Object != "" {
			return fmt.Errorf("%w: account key with a container or object name", ErrInvalidName)
		}
		return nil
	case KindContainer, kindStats, kindWriteMark:
		if k.Object != "" {
			return fmt.Errorf("%w: container key with an object name", ErrInvalidName)
		}
		return ValidateName("container", k.Container)
	case KindObject:
		if err := ValidateName("container", k.Container); err != nil {
			return err
		}
		return ValidateName("object", k.Object)
	}
	return fmt.Errorf("%w: unknown kind %v", ErrInvalidName, k.Kind)
}

// Bytes returns the key's encoding (see the package doc). The key must be
// valid.
func (k Key) Bytes() []byte {
	if k.Kind == KindHolding {
		return k.holdingBytes()
	}
	if k.Kind == KindProfile {
		return profileBytes(k.Held)
	}
	b := make([]byte, 0, 3+len(k.Account)+len(k.Container)+len(k.Object))
	b = append(b, byte(k.Kind))
	b = append(b, k.Account...)
	if k.Kind == KindAccount {
		return b
	}
	b = append(b, sep)
	b = append(b, k.Container...)
	if k.Kind != KindObject {
		return b
	}
	b = append(b, sep)
	return append(b, k.Object...)
}

// String returns "kind:account/container/object" for logs.
func (k Key) String() string {
	if k.Kind == KindHolding {
		return "holding:" + k.Held.String() + "@" + k.Holder
	}
	if k.Kind == KindProfile {
		return "profile:" + k.Held.String()
	}
	s := k.Kind.String() + ":" + k.Account
	if k.Kind != KindAccount {
		s += "/" + k.Container
	}
	if k.Kind == KindObject {
		s += "/" + k.Object
	}
	return s
}

// ParseKey decodes a key made by Bytes.
func ParseKey(b []byte) (Key, error) {
	if len(b) < 2 {
		return Key{}, fmt.Errorf("%w: key %q too short", ErrInvalidName, b)
	}
	k := Key{Kind: Kind(b[0])}
	if k.Kind == KindHolding {
		return parseHoldingKey(b)
	}
	if k.Kind == KindProfile {
		return parseProfileKey(b)
	}
	parts := bytes.Split(b[1:], []byte{sep})
	want := map[Kind]int{KindAccount: 1, KindContainer: 2, kindStats: 2, KindObject: 3}[k.Kind]
	if want == 0 || len(parts) != want {
		return Key{}, fmt.Errorf("%w: malformed key %q", ErrInvalidName, b)
	}
	k.Account = string(parts[0])
	if want > 1 {
		k.Container = string(parts[1])
	}
	if want > 2 {
		k.Object = string(parts[2])
	}
	return k, k.Validate()
}

// childPrefix returns the key prefix of the children of the account or
// container k: the containers of an account, the objects of a container.
func childPrefix(k Key) []byte {
	var b []byte
	switch k.Kind {
	case KindAccount:
		b = append(b, byte(KindContainer))
		b = append(b, k.Account...)
	case KindContainer:
		b = append(b, byte(KindObject))
		b = append(b, k.Account...)
		b = append(b, sep)
		b = append(b, k.Container...)
	default:
		panic("namespace: childPrefix of " + k.Kind.String())
	}
	return append(b, sep)
}

// Record is one account, container or object. The zero Timestamp is never
// stored: every record carries the time of the write that made it.
//
// Which fields are meaningful depends on Kind: Meta and Created for all;
// ACLs live in a container's Meta under "x-container-read" and
// "x-container-write"; Recipe, Size, ETag, ContentType, Headers and
// Manifest for objects.
//
// Maps are owned by the Record; callers that keep a Record must not share
// its maps with another writer.
type Record struct {
	Key
	// Timestamp is the X-Timestamp of the write, unix nanoseconds. With
	// Region it orders writes: see Newer.
	Timestamp int64
	// Region is the region of the node that made the write; it breaks
	// timestamp ties.
	Region string
	// Deleted makes the record a tombstone.
	Deleted bool

	// Created is the X-Timestamp (unix nanoseconds) at which the account
	// or container was first created; kept across metadata updates.
	Created int64
	// Meta holds user metadata, keys lower case without the Swift prefix.
	Meta map[string]string

	// Recipe is the ID of the chunkstore recipe of an object's bytes.
	Recipe recipe.ID
	// Size is the object's plain size in bytes.
	Size int64
	// ETag is the lowercase hex MD5 of the object's bytes.
	ETag        string
	ContentType string
	// Headers are the other headers Swift stores with an object, canonical
	// keys (see glanceshim.ObjectInfo.Headers).
	Headers map[string]string
	// Manifest is the DLO X-Object-Manifest value, "" for plain objects.
	Manifest string
	// SLO is a static large object's manifest (Swift's stored JSON form,
	// glanceshim.ObjectInfo.SLOManifest), "" for other objects. The
	// object's content is then its Recipe, composed from the segments'.
	SLO string

	// Profile is a boot profile's ref indices into its recipe, in the
	// order the reads first touched them (see profile.go); profiles only.
	Profile []int32
}

// Time returns Timestamp as a time.Time.
func (r *Record) Time() time.Time { return time.Unix(0, r.Timestamp) }

// Newer reports whether r wins over old by last writer wins: a later
// Timestamp, or the same Timestamp and a greater Region (byte order), or,
// for the same Timestamp and Region (two nodes of one region that wrote
// at the same nanosecond), a greater encoded value (MarshalValue), so
// that every node keeps the same one. A record equal to old is not newer,
// so re-applying a record is a no-op.
func (r *Record) Newer(old *Record) bool {
	if r.Timestamp != old.Timestamp {
		return r.Timestamp > old.Timestamp
	}
	if r.Region != old.Region {
		return r.Region > old.Region
	}
	a, err := r.MarshalValue()
	if err != nil {
		return false
	}
	b, err := old.MarshalValue()
	if err != nil {
		return true
	}
	return bytes.Compare(a, b) > 0
}

// Live reports whether the record exists (is not a tombstone) and is
// non-nil.
func (r *Record) Live() bool { return r != nil && !r.Deleted }

// Clone returns a deep copy of r.
func (r *Record) Clone() *Record {
	c := *r
	c.Meta = cloneMap(r.Meta)
	c.Headers = cloneMap(r.Headers)
	c.Profile = slices.Clone(r.Profile)
	return &c
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// Validate checks the key and that the record has a timestamp and a region.
func (r *Record) Validate() error {
	if err := r.Key.Validate(); err != nil {
		return err
	}
	if r.Kind == kindStats || r.Kind == kindWriteMark {
		return fmt.Errorf("%w: %v keys are not records", ErrInvalidName, r.Kind)
	}
	if r.Timestamp <= 0 {
		return fmt.Errorf("namespace: record %v: timestamp %d not positive", r.Key, r.Timestamp)
	}
	if r.Region == "" {
		return fmt.Errorf("namespace: record %v: empty region", r.Key)
	}
	return nil
}

// encodingVersion is the "v" of the JSON value encoding.
const encodingVersion = 1

// wire is the JSON value of a record; the names live in the key only.
type wire struct {
	V           int               `json:"v"`
	Timestamp   int64             `json:"ts"`
	Region      string            `json:"region"`
	Deleted     bool              `json:"deleted,omitempty"`
	Created     int64             `json:"created,omitempty"`
	Meta        map[string]string `json:"meta,omitempty"`
	Recipe      *recipe.ID        `json:"recipe,omitempty"`
	Size        int64             `json:"size,omitempty"`
	ETag        string            `json:"etag,omitempty"`
	ContentType string            `json:"content_type,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
	Manifest    string            `json:"manifest,omitempty"`
	SLO         string            `json:"slo,omitempty"`
	Profile     []int32           `json:"profile,omitempty"`
}

// MarshalValue returns the versioned JSON value stored under r.Key.Bytes().
func (r *Record) MarshalValue() ([]byte, error) {
	w := wire{
		V: encodingVersion, Timestamp: r.Timestamp, Region: r.Region, Deleted: r.Deleted,
		Created: r.Created, Meta: r.Meta, Size: r.Size, ETag: r.ETag,
		ContentType: r.ContentType, Headers: r.Headers, Manifest: r.Manifest,
		SLO: r.SLO, Profile: r.Profile,
	}
	if !r.Recipe.IsZero() {
		id := r.Recipe
		w.Recipe = &id
	}
	return json.Marshal(&w)
}

// UnmarshalRecord decodes a key and value made by Key.Bytes and
// MarshalValue.
func UnmarshalRecord(key, val []byte) (*Record, error) {
	k, err := ParseKey(key)
	if err != nil {
		return nil, err
	}
	var w wire
	if err := json.Unmarshal(val, &w); err != nil {
		return nil, fmt.Errorf("namespace: record %v: %w", k, err)
	}
	if w.V != encodingVersion {
		return nil, fmt.Errorf("namespace: record %v: unknown encoding version %d", k, w.V)
	}
	r := &Record{
		Key: k, Timestamp: w.Timestamp, Region: w.Region, Deleted: w.Deleted,
		Created: w.Created, Meta: w.Meta, Size: w.Size, ETag: w.ETag,
		ContentType: w.ContentType, Headers: w.Headers, Manifest: w.Manifest,
		SLO: w.SLO, Profile: w.Profile,
	}
	if w.Recipe != nil {
		r.Recipe = *w.Recipe
	}
	return r, nil
}
