"""Checks the declared minimum Rust version (`rust-version`) of each published crate against
its dependencies: none may need a newer Rust. (Clippy's `incompatible_msrv` lint, on under
`-D warnings`, checks the crates' own use of the standard library against the same version.)"""
import json
import subprocess
import sys

meta = json.loads(subprocess.check_output(["cargo", "metadata", "--format-version", "1", "--locked"]))
packages = {p["id"]: p for p in meta["packages"]}
resolve = {n["id"]: n for n in meta["resolve"]["nodes"]}


def version(v):
    parts = [int(x) for x in (v or "0").split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def dependencies(root):
    seen, stack = set(), [root]
    while stack:
        for d in resolve[stack.pop()]["deps"]:
            if any(k["kind"] in (None, "build") for k in d["dep_kinds"]) and d["pkg"] not in seen:
                seen.add(d["pkg"])
                stack.append(d["pkg"])
    return seen


failed = False
for member in meta["workspace_members"]:
    package = packages[member]
    if package.get("publish") == []:
        continue
    ours = version(package.get("rust_version"))
    for dep in sorted(dependencies(member), key=lambda d: packages[d]["name"]):
        theirs = packages[dep].get("rust_version")
        if version(theirs) > ours:
            failed = True
            print(f"{package['name']} declares rust-version {package.get('rust_version')}, "
                  f"but {packages[dep]['name']} {packages[dep]['version']} needs {theirs}")
    if not failed:
        print(f"{package['name']}: rust-version {package.get('rust_version')}, no dependency needs more")
sys.exit(1 if failed else 0)
