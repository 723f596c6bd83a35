#!/usr/bin/python3
"""Seed a freshly bootstrapped Keystone for Nitro's e2e tests.

Reads a JSON spec on stdin (see e2e/keystone_harness_test.go): the admin
password and auth URL, projects, extra roles, regions, users with their
project and roles, and services with their endpoints. Creates them with
python3-keystoneclient in one process, with as few requests as possible
(Keystone is fresh: nothing is looked up before it is created, except the
roles `keystone-manage bootstrap` made), which takes seconds where the
openstack CLI would take minutes. Prints the IDs as JSON on stdout and
its progress on stderr.
"""
import json
import sys
import time

from keystoneauth1 import session
from keystoneauth1.identity import v3
from keystoneclient.v3 import client


def main():
    t0 = time.time()

    def progress(what):
        print("%6.1fs %s" % (time.time() - t0, what), file=sys.stderr, flush=True)

    spec = json.load(sys.stdin)
    auth = v3.Password(auth_url=spec["auth_url"], username="admin",
                       password=spec["admin_password"], project_name="admin",
                       user_domain_id="default", project_domain_id="default")
    ks = client.Client(session=session.Session(auth=auth),
                       endpoint_override=spec["auth_url"])

    out = {"projects": {}, "users": {}, "roles": {}, "services": {}}
    for r in ks.roles.list():  # admin, member, reader from bootstrap
        out["roles"][r.name] = r.id
    progress("roles listed: %s" % sorted(out["roles"]))
    for name in spec["roles"]:
        if name not in out["roles"]:
            out["roles"][name] = ks.roles.create(name=name).id
    for name in spec["projects"]:
        out["projects"][name] = ks.projects.create(
            name=name, domain="default", description="nitro e2e").id
    progress("projects and roles created")
    for region in spec["regions"]:
        if region != "RegionOne":  # bootstrap's
            ks.regions.create(id=region)
    for u in spec["users"]:
        project = out["projects"][u["project"]]
        user = ks.users.create(name=u["name"], domain="default",
                               password=u["password"], default_project=project)
        out["users"][u["name"]] = user.id
        for role in u["roles"]:
            ks.roles.grant(out["roles"][role], user=user.id, project=project)
        progress("user " + u["name"])
    for s in spec["services"]:
        if s.get("existing"):  # bootstrap's identity service
            svc = ks.services.list(type=s["type"])[0]
        else:
            svc = ks.services.create(name=s["name"], type=s["type"],
                                     description=s.get("description", ""))
        out["services"][s["type"]] = svc.id
        for e in s["endpoints"]:
            ks.endpoints.create(service=svc.id, url=e["url"],
                                interface=e["interface"], region=e["region"])
        progress("service " + s["type"])
    out["took_seconds"] = round(time.time() - t0, 2)
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
