#!/usr/bin/python3
"""Drive glance_store's swift Store on an image stored as a static large
object: get (byte count, sha256), delete, get after delete.

Run by node's TestGlanceStoreSLODelete with Debian's glance_store 4.x
(auth v1, tempauth, single tenant through a swift_store_config_file
reference). Glance never writes SLOs itself, but its delete path handles
them (store.py: HEAD, then DELETE ?multipart-manifest=delete when
X-Static-Large-Object is set): images an operator uploaded with
`swift upload --use-slo` and registered by location. Reads a JSON spec on
stdin: auth_url (".../auth/v1.0"), user, key, container, object, dir.
Prints one JSON object with each step's result.
"""
import hashlib
import json
import logging
import os
import sys

from glance_store import location as gs_location
from glance_store import multi_backend
from oslo_config import cfg


def step(out, name, fn):
    try:
        r = fn() or {}
    except Exception as e:  # the test asserts on the exception's name
        r = {"error": type(e).__name__, "message": str(e)[:300]}
    out[name] = r


def main():
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    spec = json.load(sys.stdin)
    d = spec["dir"]
    ref = os.path.join(d, "glance-swift.conf")
    with open(ref, "w") as f:
        f.write("[ref1]\nauth_version = 1\nauth_address = %s\nuser = %s\nkey = %s\n"
                % (spec["auth_url"], spec["user"], spec["key"]))
    path = os.path.join(d, "glance-api.conf")
    with open(path, "w") as f:
        f.write("\n".join([
            "[DEFAULT]", "enabled_backends = s1:swift",
            "[glance_store]", "default_backend = s1",
            "[s1]", "swift_store_container = %s" % spec["container"],
            "swift_store_config_file = %s" % ref, "default_swift_reference = ref1",
        ]) + "\n")
    conf = cfg.CONF
    conf.register_opt(cfg.DictOpt("enabled_backends"))
    conf(["--config-file", path], project="glance")
    multi_backend.register_store_opts(conf)
    multi_backend.create_multi_stores(conf)
    store = multi_backend.get_store_from_store_identifier("s1")
    uri = "swift+config://ref1/%s/%s" % (spec["container"], spec["object"])
    out = {"uri": uri}

    def loc():
        return gs_location.get_location_from_uri_and_backend(uri, "s1", conf=conf)

    def get():
        it, length = store.get(loc())
        h, n = hashlib.sha256(), 0
        for b in it:
            h.update(b)
            n += len(b)
        return {"length": length, "bytes": n, "sha256": h.hexdigest()}

    step(out, "get", get)
    step(out, "delete", lambda: store.delete(loc()))
    step(out, "get_after_delete", get)
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    sys.exit(main())
