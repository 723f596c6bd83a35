#!/usr/bin/python3
"""Seed a freshly bootstrapped Keystone for Nitro's e2e tests.

Reads a JSON spec on stdin (see e2e/keystone_harness_test.go): the admin
password and auth URL, projects, extra roles, regions, users with their
project and roles, and services with their endpoints. Creates what is
missing (idempotent) with python3-keystoneclient in one process, which
takes seconds where the openstack CLI would take minutes. Prints the IDs
as JSON on stdout.
"""
import json
import sys
import time

from keystoneauth1 import session
from keystoneauth1.identity import v3
from keystoneclient.v3 import client


def progress(t0, what):
    print("%6.1fs %s" % (time.time() - t0, what), file=sys.stderr, flush=True)


def main():
    t0 = time.time()
    spec = json.load(sys.stdin)
    auth = v3.Password(auth_url=spec["auth_url"], username="admin",
                       password=spec["admin_password"], project_name="admin",
                       user_domain_id="default", project_domain_id="default")
    ks = client.Client(session=session.Session(auth=auth),
                       endpoint_override=spec["auth_url"])

    def find(manager, name, **kw):
        for x in manager.list(**kw):
            if x.name == name:
                return x
        return None

    progress(t0, "client ready")
    out = {"projects": {}, "users": {}, "roles": {}, "services": {}}
    for name in ["admin"] + spec["projects"]:
        p = find(ks.projects, name, domain="default") or ks.projects.create(
            name=name, domain="default", description="nitro e2e")
        out["projects"][name] = p.id
        progress(t0, "project " + name)
    for name in ["admin", "member", "reader"] + spec["roles"]:
        r = find(ks.roles, name) or ks.roles.create(name=name)
        out["roles"][name] = r.id
    existing = {r.id for r in ks.regions.list()}
    for region in spec["regions"]:
        if region not in existing:
            ks.regions.create(id=region)
    for u in spec["users"]:
        user = find(ks.users, u["name"], domain="default") or ks.users.create(
            name=u["name"], domain="default", password=u["password"],
            default_project=out["projects"][u["project"]])
        out["users"][u["name"]] = user.id
        progress(t0, "user " + u["name"])
        for role in u["roles"]:
            ks.roles.grant(out["roles"][role], user=user.id,
                           project=out["projects"][u["project"]])
    out["users"]["admin"] = find(ks.users, "admin", domain="default").id
    for s in spec["services"]:
        svc = None
        for x in ks.services.list(type=s["type"]):
            svc = x
        if svc is None:
            svc = ks.services.create(name=s["name"], type=s["type"],
                                     description=s.get("description", ""))
        out["services"][s["type"]] = svc.id
        progress(t0, "service " + s["type"])
        have = {(e.region, e.interface) for e in ks.endpoints.list(service=svc.id)}
        for e in s["endpoints"]:
            if (e["region"], e["interface"]) not in have:
                ks.endpoints.create(service=svc.id, url=e["url"],
                                    interface=e["interface"], region=e["region"])
    out["took_seconds"] = round(time.time() - t0, 2)
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
