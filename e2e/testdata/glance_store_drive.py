#!/usr/bin/python3
"""Drive glance_store's swift Store directly, as glance-api does.

Run by TestGlanceStore5 inside the Debian forky chroot of
scripts/forky-chroot.sh (python3-glance-store 5.x, Keystone v3 only), or
with any other glance_store. Reads a JSON spec on stdin:

  mode            "single" (swift_store_config_file reference, auth v3)
                  or "multi" (swift_store_multi_tenant: the user's token and
                  catalog, one container per image)
  auth_url        Keystone's /v3
  user, key       Glance's swift user "project:user" and password
  region          swift_store_region (catalog lookup)
  container       swift_store_container
  use_trusts      multi tenant: swift_store_use_trusts
  admin_tenants   multi tenant: swift_store_admin_tenants
  context         multi tenant: auth_token, user_id, project_id and the
                  v2-style service catalog (as keystonemiddleware's
                  X-Service-Catalog header gives Glance)
  image_path      the file to store (known size: one PUT)
  unknown_bytes   bytes of image_path to store again with size 0
                  ("unknown": DLO segments of chunk_mb)
  chunk_mb        swift_store_large_object_chunk_size
  offset          the offset of the random-access get
  dir             a scratch dir for the config files

Does, configured the multi-store way current Glance is (enabled_backends
= s1:swift): add (known size), get, get with offset, add (unknown size),
get, delete both, get after delete. Prints one JSON object with each
step's result (sizes, sha256, checksums, locations, exception names, wall
seconds) and the versions of glance_store, swiftclient and keystoneauth1.
"""
import hashlib
import io
import json
import logging
import os
import sys
import time
import uuid

from glance_store import location as gs_location
from glance_store import multi_backend
from oslo_config import cfg


class Context(object):
    """The parts of Glance's RequestContext the swift store reads."""

    def __init__(self, c):
        self.auth_token = c["auth_token"]
        self.user_id = c["user_id"]
        self.project_id = c["project_id"]
        self.service_catalog = c["catalog"]
        self.user = self.user_id
        self.tenant = self.project_id
        self.roles = c.get("roles", [])
        self.is_admin = False


class Prefix(io.RawIOBase):
    """The first n bytes of a file, with no size attached (chunked)."""

    def __init__(self, f, n):
        self.f, self.left = f, n

    def read(self, size=-1):
        if self.left <= 0:
            return b""
        if size < 0 or size > self.left:
            size = self.left
        b = self.f.read(size)
        self.left -= len(b)
        return b


def versions():
    import importlib.metadata as md
    out = {}
    for dist in ("glance_store", "python-swiftclient", "keystoneauth1", "oslo.config"):
        try:
            out[dist] = md.version(dist)
        except Exception as e:  # noqa
            out[dist] = "unknown (%s)" % type(e).__name__
    return out


def write_conf(spec):
    d = spec["dir"]
    lines = [
        "[DEFAULT]",
        "enabled_backends = s1:swift",
        "[glance_store]",
        "default_backend = s1",
        "[s1]",
        "swift_store_auth_version = 3",
        "swift_store_region = %s" % spec["region"],
        "swift_store_container = %s" % spec["container"],
        "swift_store_create_container_on_put = True",
        "swift_store_large_object_chunk_size = %d" % spec["chunk_mb"],
    ]
    if spec["mode"] == "single":
        ref = os.path.join(d, "glance-swift.conf")
        with open(ref, "w") as f:
            f.write("[ref1]\nauth_version = 3\nauth_address = %s\nuser = %s\n"
                    "key = %s\nuser_domain_id = default\n"
                    "project_domain_id = default\n"
                    % (spec["auth_url"], spec["user"], spec["key"]))
        lines += ["swift_store_multi_tenant = False",
                  "swift_store_config_file = %s" % ref,
                  "default_swift_reference = ref1"]
    else:
        # Multi tenant refuses swift_store_config_file: the deprecated
        # single-reference options carry Glance's own user (the trustee).
        # default_swift_reference must be named even so: in a backend
        # group glance_store 5.7 reads it as None otherwise, and the
        # trust set-up for uploads fails (the upload then silently goes
        # on with the user's token).
        lines += ["swift_store_multi_tenant = True",
                  "default_swift_reference = ref1",
                  "swift_store_use_trusts = %s" % spec["use_trusts"],
                  "swift_store_admin_tenants = %s" % ",".join(spec["admin_tenants"]),
                  "swift_store_auth_address = %s" % spec["auth_url"],
                  "swift_store_user = %s" % spec["user"],
                  "swift_store_key = %s" % spec["key"]]
    path = os.path.join(d, "glance-api.conf")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def sha256_of(it):
    h, n = hashlib.sha256(), 0
    for b in it:
        h.update(b)
        n += len(b)
    return h.hexdigest(), n


def step(out, name, fn):
    t = time.time()
    try:
        r = fn() or {}
    except Exception as e:  # the test asserts on the exception's name
        r = {"error": type(e).__name__, "message": str(e)[:300]}
    r["seconds"] = round(time.time() - t, 2)
    out[name] = r
    return r


def main():
    # Warnings to stderr, and the connection manager's debug lines: it
    # logs (and swallows) a failure to set up the trust for an upload.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("glance_store._drivers.swift.connection_manager").setLevel(logging.DEBUG)
    spec = json.load(sys.stdin)
    conf_path = write_conf(spec)
    conf = cfg.CONF  # glance_store's multi-backend lookups read the global CONF, as in Glance
    # Glance itself registers enabled_backends (glance/common/config.py);
    # glance_store reads it once the config is parsed.
    conf.register_opt(cfg.DictOpt("enabled_backends"))
    conf(["--config-file", conf_path], project="glance")
    multi_backend.register_store_opts(conf)
    multi_backend.create_multi_stores(conf)
    store = multi_backend.get_store_from_store_identifier("s1")
    ctx = Context(spec["context"]) if spec["mode"] == "multi" else None

    out = {"versions": versions(), "store": type(store).__name__}
    size = os.path.getsize(spec["image_path"])
    ids = {"known": str(uuid.uuid4()), "unknown": str(uuid.uuid4())}
    out["ids"] = ids
    locs = {}

    def add(kind):
        with open(spec["image_path"], "rb") as f:
            if kind == "known":
                data, n = f, size
            else:
                data, n = Prefix(f, spec["unknown_bytes"]), 0
            loc, written, checksum, multihash, meta = store.add(
                ids[kind], data, n, "sha256", context=ctx)
        locs[kind] = loc
        return {"location": loc, "size": written, "checksum": checksum,
                "multihash": multihash, "metadata": meta}

    def get(kind, **kw):
        loc = gs_location.get_location_from_uri_and_backend(
            locs[kind], "s1", conf=conf)
        it, length = store.get(loc, context=ctx, **kw)
        digest, n = sha256_of(it)
        return {"length": length, "bytes": n, "sha256": digest}

    def delete(kind):
        loc = gs_location.get_location_from_uri_and_backend(
            locs[kind], "s1", conf=conf)
        store.delete(loc, context=ctx)
        return {}

    step(out, "add_known", lambda: add("known"))
    if "known" in locs:
        step(out, "get", lambda: get("known"))
        step(out, "get_offset", lambda: get("known", offset=spec["offset"]))
    step(out, "add_unknown", lambda: add("unknown"))
    if "unknown" in locs:
        step(out, "get_unknown", lambda: get("unknown"))
    for kind in ("known", "unknown"):
        if kind in locs:
            step(out, "delete_" + kind, lambda k=kind: delete(k))
    if "known" in locs:
        step(out, "get_after_delete", lambda: get("known"))
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    sys.exit(main())
