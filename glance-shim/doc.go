// Package glanceshim is Nitro's Swift API v1 front end: the HTTP surface
// that OpenStack Glance's unmodified swift store driver (glance_store 4.x
// over python-swiftclient), the swift CLI, gophercloud and rclone talk to.
// It owns Swift's protocol semantics (auth, paths, constraints, listings'
// formats, Range and conditional requests, dynamic large objects, error
// bodies) and leaves storage to a Backend (backend.go), which the node
// implements over the deduplicating chunk store.
//
// The reference behaviour is OpenStack Swift 2.30.1 (Debian 12's swift
// packages, which e2e runs side by side); e2e's recording proxy logs the
// requests Glance sends.
//
// # Nouns
//
//   - Server: the front end; New builds it, Handler returns its
//     http.Handler (an echo instance with one catch-all route). It never
//     listens itself.
//   - Backend: accounts, containers, objects (consumer-side interface).
//   - Authenticator: validates tokens; TempAuth is the built-in one
//     (Swift's tempauth: users in Config, tokens in memory, /auth/v1.0);
//     package keystone provides Keystone v3 validation, and AuthChain
//     serves both side by side.
//   - Identity: who a token belongs to, and what ACLs may call it; a
//     Keystone identity (Identity.Keystone) is authorized by keystoneauth's
//     rules (keystoneauth.go, options in Config.Keystone).
//
// # Request pipeline
//
// In the order of Swift's proxy pipeline (proxy-server.conf's
// "pipeline = healthcheck ... tempauth ... dlo ... proxy-server"), all in
// Server.serve:
//
//  1. trans-id: X-Trans-Id and X-Openstack-Request-Id
//     ("tx<21 hex>-<unix time hex>") on every response; access log line
//     when the request ends (also when it is aborted).
//  2. path: parsePath splits the escaped path by depth, never cleaning it.
//  3. /healthcheck and /info, without auth.
//  4. auth: /auth/v1.0 logins; every /v1 request is authenticated
//     (X-Auth-Token / X-Storage-Token; 401) and authorized (owner, reseller
//     admin, or container ACL; 403).
//  5. constraints: header sizes, names, metadata limits, Content-Length
//     (413 and 411 before any body byte is read).
//  6. account, container or object handler (account.go, container.go,
//     object.go, copy.go).
//  7. DLO (dlo.go): GET/HEAD of a manifest concatenate its segments.
//  8. versioned_writes (versions.go): X-Versions-Location (stack) and
//     X-History-Location (history) containers archive the version a PUT,
//     COPY or DELETE replaces; copies reuse the stored content through an
//     ObjectCopier Backend.
//
// Extension: GET and HEAD of an object carry X-Nitro-Regions, the regions
// that hold all of its content (ObjectInfo.Regions; see regionsHeader).
//
// Every error goes through one table, statusOf in errors.go, which also
// logs failures. Responses mid-body that cannot be completed (a chunk
// failed verification) abort the connection, so clients never receive
// silently wrong data.
package glanceshim
