#!/usr/bin/env python3
"""Check charm metadata the way Juju reads it at deploy time, not only as charmcraft parses it.

`charmcraft expand-extensions` validates charmcraft.yaml and the top-level metadata fields, but
charmcraft's models keep ``storage``, ``containers``, ``resources`` and the relation maps as
free-form mappings: a misspelt storage type or a container whose ``resource`` names no
declared resource packs fine and fails only at ``juju deploy``. This checker runs charmcraft's own
metadata model when charmcraft is importable (``tox -e charmcraft`` installs it) and adds the rules
Juju applies to those sections, plus typo guards (unknown keys are reported, which Juju would
silently ignore):

- storage: ``type`` is ``filesystem`` or ``block``; ``multiple.range`` is ``m``, ``m-n``,
  ``m-`` or ``m+``; ``minimum-size`` is a size; ``location`` (filesystem only) is absolute;
- containers: exactly one of ``resource`` and ``bases``; the resource is a declared
  ``oci-image``; every mount names declared filesystem storage (and an absolute location);
- resources: ``type`` is ``file`` (with a ``filename``) or ``oci-image``; an image's
  ``upstream-source`` is pinned (a digest, or a tag other than ``latest``; for linuxserver.io
  images the full ``<version>-ls<build>`` tag, since their version tags move on every rebuild);
- relations: each one has an ``interface``; names are unique across provides, requires and peers,
  valid field names and not Juju's reserved ``juju``/``juju-*`` (neither are provided or peer
  interfaces); ``scope``, ``limit`` and ``optional`` are valid;
- assumes: every expression is ``<feature>`` or ``<feature> >=|< <major>.<minor>[.<patch>]``
  with a feature Juju 3.6 knows (``juju``, ``k8s-api``), nested under ``any-of``/``all-of``
  lists only; a charm with containers assumes ``k8s-api``.

Usage: check_metadata.py [--require-charmcraft] FILE...

FILE is a metadata.yaml, or a charmcraft.yaml that carries the metadata itself (the tester
charm's). Prints one line per problem and exits 1 if there is any, 0 otherwise; with
``--require-charmcraft`` a missing charmcraft is an error (exit 2) instead of a note.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

import yaml

# The keys Juju reads from metadata.yaml. Anything else there is most likely a typo, which Juju
# and charmcraft would silently ignore.
METADATA_KEYS = frozenset(
    {
        "name",
        "display-name",
        "summary",
        "description",
        "maintainer",
        "maintainers",
        "docs",
        "issues",
        "source",
        "website",
        "terms",
        "subordinate",
        "assumes",
        "charm-user",
        "containers",
        "devices",
        "extra-bindings",
        "peers",
        "provides",
        "requires",
        "resources",
        "storage",
        "series",
        "min-juju-version",
        "tags",
        "categories",
        "payloads",
    }
)
STORAGE_TYPES = ("filesystem", "block")
STORAGE_KEYS = frozenset(
    {
        "type",
        "description",
        "shared",
        "read-only",
        "multiple",
        "minimum-size",
        "location",
        "properties",
    }
)
STORAGE_PROPERTIES = frozenset({"transient"})
CONTAINER_KEYS = frozenset({"resource", "bases", "mounts", "uid", "gid"})
MOUNT_KEYS = frozenset({"storage", "location"})
RESOURCE_TYPES = ("file", "oci-image")
RESOURCE_KEYS = frozenset({"type", "description", "filename", "upstream-source"})
RELATION_KEYS = frozenset({"interface", "limit", "optional", "scope", "description"})
RELATION_SCOPES = ("global", "container")
RELATION_SECTIONS = ("provides", "requires", "peers")
# Features a Juju 3.6 model can satisfy; extend when Juju adds one a charm here needs.
ASSUMES_FEATURES = frozenset({"juju", "k8s-api"})
ASSUMES_GROUPS = ("any-of", "all-of")

_ASSUMES_EXPRESSION = re.compile(
    r"^(?P<feature>[a-z][a-z0-9-]*)(?:\s*(?P<op>>=|<)\s*(?P<version>\d+\.\d+(?:\.\d+)?))?$"
)
_SIZE = re.compile(r"^\d+(?:\.\d+)?[MGTPEZY]?(?:i?B)?$")
_RANGE = re.compile(r"^\d+(?:[-+]|-\d+)?$")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_LINUXSERVER = re.compile(r"^(?:(?:lscr\.io|ghcr\.io|docker\.io)/)?linuxserver/")
_LINUXSERVER_FULL_TAG = re.compile(r"-ls\d+$")


def _mapping(value: object) -> dict[str, Any] | None:
    return cast("dict[str, Any]", value) if isinstance(value, dict) else None


def _section(meta: Mapping[str, Any], key: str, problems: list[str]) -> dict[str, Any]:
    """A top-level section that must be a mapping when present ({} when absent or wrong)."""
    value = meta.get(key)
    if value is None:
        return {}
    found = _mapping(value)
    if found is None:
        problems.append(f"{key}: must be a mapping, not {type(value).__name__}")
        return {}
    return found


def _unknown_keys(where: str, entry: Mapping[str, Any], known: Iterable[str]) -> list[str]:
    return [f"{where}: unknown key {key!r}" for key in sorted(set(entry) - set(known))]


def check_storage(meta: Mapping[str, Any]) -> list[str]:
    """Types, sizes, ranges and locations of the storage section."""
    problems: list[str] = []
    for name, raw in _section(meta, "storage", problems).items():
        where = f"storage.{name}"
        entry = _mapping(raw)
        if entry is None:
            problems.append(f"{where}: must be a mapping")
            continue
        problems += _unknown_keys(where, entry, STORAGE_KEYS)
        kind = entry.get("type")
        if kind not in STORAGE_TYPES:
            problems.append(f"{where}.type: {kind!r} is not one of {', '.join(STORAGE_TYPES)}")
        size = entry.get("minimum-size")
        if size is not None and not _SIZE.match(str(size)):
            problems.append(f"{where}.minimum-size: {size!r} is not a size such as 1G or 512M")
        multiple = _mapping(entry.get("multiple")) or {}
        count = multiple.get("range")
        if count is not None and not _RANGE.match(str(count)):
            problems.append(f"{where}.multiple.range: {count!r} is not m, m-n, m- or m+")
        location = entry.get("location")
        if location is not None and kind == "block":
            problems.append(f"{where}.location: only filesystem storage has a location")
        elif location is not None and not str(location).startswith("/"):
            problems.append(f"{where}.location: {location!r} is not an absolute path")
        properties: object = entry.get("properties") or []
        if not isinstance(properties, list) or not set(cast("list[Any]", properties)).issubset(
            STORAGE_PROPERTIES
        ):
            problems.append(f"{where}.properties: only {sorted(STORAGE_PROPERTIES)} is allowed")
        for flag in ("shared", "read-only"):
            if flag in entry and not isinstance(entry[flag], bool):
                problems.append(f"{where}.{flag}: must be true or false")
    return problems


def check_resources(meta: Mapping[str, Any]) -> list[str]:
    """Types of the resources section, and a pinned upstream-source for every image."""
    problems: list[str] = []
    for name, raw in _section(meta, "resources", problems).items():
        where = f"resources.{name}"
        entry = _mapping(raw)
        if entry is None:
            problems.append(f"{where}: must be a mapping")
            continue
        problems += _unknown_keys(where, entry, RESOURCE_KEYS)
        kind = entry.get("type", "file")
        if kind not in RESOURCE_TYPES:
            problems.append(f"{where}.type: {kind!r} is not one of {', '.join(RESOURCE_TYPES)}")
        if kind == "file" and not entry.get("filename"):
            problems.append(f"{where}: a file resource needs a filename")
        image = entry.get("upstream-source")
        if kind == "oci-image" and image is not None:
            problems += [f"{where}.upstream-source: {problem}" for problem in image_pin(image)]
    return problems


def image_pin(image: object) -> list[str]:
    """Why ``image`` is not a reproducible reference ([] when it is)."""
    if not isinstance(image, str) or not image:
        return ["must be an image reference"]
    if _DIGEST.search(image):
        return []
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:  # no tag at all (the colon belonged to a registry port)
        return [f"{image!r} has no tag: pin a version tag or a digest"]
    if tag == "latest":
        return [f"{image!r} floats: pin a version tag or a digest"]
    if _LINUXSERVER.match(name) and not _LINUXSERVER_FULL_TAG.search(tag):
        return [
            f"{image!r}: linuxserver.io re-points version tags on every rebuild; "
            "pin the full <version>-ls<build> tag"
        ]
    return []


def check_containers(meta: Mapping[str, Any]) -> list[str]:
    """Each container's image resource and mounts refer to what the metadata declares."""
    problems: list[str] = []
    resources = _mapping(meta.get("resources")) or {}
    storage = _mapping(meta.get("storage")) or {}
    for name, raw in _section(meta, "containers", problems).items():
        where = f"containers.{name}"
        entry = _mapping(raw)
        if entry is None:
            problems.append(f"{where}: must be a mapping")
            continue
        problems += _unknown_keys(where, entry, CONTAINER_KEYS)
        if ("resource" in entry) == ("bases" in entry):
            problems.append(f"{where}: needs exactly one of 'resource' and 'bases'")
        if "resource" in entry:
            resource = entry["resource"]
            declared = _mapping(resources.get(resource))
            if declared is None:
                problems.append(f"{where}.resource: {resource!r} is not declared in resources")
            elif declared.get("type", "file") != "oci-image":
                problems.append(f"{where}.resource: {resource!r} is not an oci-image resource")
        mounts: object = entry.get("mounts") or []
        if not isinstance(mounts, list):
            problems.append(f"{where}.mounts: must be a list")
            continue
        for index, raw_mount in enumerate(cast("list[Any]", mounts)):
            problems += _check_mount(f"{where}.mounts[{index}]", raw_mount, storage)
    return problems


def _check_mount(where: str, raw: object, storage: Mapping[str, Any]) -> list[str]:
    mount = _mapping(raw)
    if mount is None:
        return [f"{where}: must be a mapping with storage and location"]
    problems = _unknown_keys(where, mount, MOUNT_KEYS)
    name = mount.get("storage")
    declared = _mapping(storage.get(str(name)))
    if declared is None:
        problems.append(f"{where}.storage: {name!r} is not declared in storage")
    elif declared.get("type") == "block":
        problems.append(f"{where}.storage: {name!r} is not filesystem storage")
    location = mount.get("location")
    if location is not None and not str(location).startswith("/"):
        problems.append(f"{where}.location: {location!r} is not an absolute path")
    return problems


def _reserved(name: str) -> bool:
    return name == "juju" or name.startswith("juju-")


def check_relations(meta: Mapping[str, Any]) -> list[str]:
    """Shape of provides, requires and peers; names unique, valid and not reserved."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    subordinate = meta.get("subordinate") is True
    for section in RELATION_SECTIONS:
        for name, raw in _section(meta, section, problems).items():
            where = f"{section}.{name}"
            entry = {"interface": raw} if isinstance(raw, str) else _mapping(raw)
            if entry is None:
                problems.append(f"{where}: must be a mapping with an interface")
                continue
            if name in seen:
                problems.append(f"{where}: the name is also used in {seen[name]}")
            seen[name] = section
            # A subordinate may require juju-* names in container scope (juju-info), no one else.
            exempt = subordinate and section == "requires" and entry.get("scope") == "container"
            if _reserved(name) and not exempt:
                problems.append(f"{where}: relation names juju and juju-* are reserved")
            if not name or name.startswith("$") or "." in name:
                problems.append(f"{where}: not a valid name (empty, a '.' or a leading '$')")
            problems += _check_relation(where, section, entry)
    return problems


def _check_relation(where: str, section: str, entry: Mapping[str, Any]) -> list[str]:
    problems = _unknown_keys(where, entry, RELATION_KEYS)
    interface = entry.get("interface")
    if not isinstance(interface, str) or not interface:
        problems.append(f"{where}.interface: missing")
    elif _reserved(interface) and section != "requires":
        problems.append(f"{where}.interface: {interface!r} is reserved to Juju")
    scope = entry.get("scope", "global")
    if scope not in RELATION_SCOPES:
        problems.append(f"{where}.scope: {scope!r} is not one of {', '.join(RELATION_SCOPES)}")
    limit = entry.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        problems.append(f"{where}.limit: {limit!r} is not a positive integer")
    if "optional" in entry and not isinstance(entry["optional"], bool):
        problems.append(f"{where}.optional: must be true or false")
    return problems


def check_assumes(meta: Mapping[str, Any]) -> list[str]:
    """Syntax and features of assumes; a Kubernetes charm assumes k8s-api."""
    assumes = meta.get("assumes")
    problems: list[str] = []
    if assumes is not None:
        if isinstance(assumes, list):
            for index, item in enumerate(cast("list[Any]", assumes)):
                problems += _check_assumption(f"assumes[{index}]", item)
        else:
            problems.append("assumes: must be a list")
    top_level = cast("list[Any]", assumes) if isinstance(assumes, list) else []
    if meta.get("containers") and "k8s-api" not in top_level:
        problems.append("assumes: a charm with containers must assume k8s-api")
    return problems


def _check_assumption(where: str, item: object) -> list[str]:
    if isinstance(item, str):
        found = _ASSUMES_EXPRESSION.match(item.strip())
        if found is None:
            return [f"{where}: {item!r} is not '<feature>' or '<feature> >=|< <version>'"]
        if found["feature"] not in ASSUMES_FEATURES:
            known = ", ".join(sorted(ASSUMES_FEATURES))
            return [f"{where}: unknown feature {found['feature']!r} (Juju 3.6 knows {known})"]
        return []
    group = _mapping(item)
    if group is None or len(group) != 1 or next(iter(group)) not in ASSUMES_GROUPS:
        return [f"{where}: must be an expression or a single any-of/all-of list"]
    key, members = next(iter(group.items()))
    if not isinstance(members, list) or not members:
        return [f"{where}.{key}: must be a non-empty list"]
    problems: list[str] = []
    for index, member in enumerate(cast("list[Any]", members)):
        problems += _check_assumption(f"{where}.{key}[{index}]", member)
    return problems


def charmcraft_problems(meta: Mapping[str, Any]) -> list[str] | None:
    """Problems charmcraft's own metadata model finds, or None when charmcraft is not installed."""
    try:
        metadata_models = importlib.import_module("charmcraft.models.metadata")
        pydantic = importlib.import_module("pydantic")
    except ImportError:
        return None
    # Name, summary, description, the URLs and the shape of assumes and of each section.
    try:
        metadata_models.CharmMetadata.model_validate(dict(meta))
    except pydantic.ValidationError as err:
        return _pydantic_lines("charmcraft's CharmMetadata", err.errors())
    return []


def _pydantic_lines(model: str, errors: Iterable[Mapping[str, Any]]) -> list[str]:
    lines: list[str] = []
    for error in errors:
        location = ".".join(str(part) for part in error.get("loc", ())) or "(top level)"
        lines.append(f"{location}: {error.get('msg', 'invalid')} ({model})")
    return lines


def check_file(path: Path) -> tuple[list[str], bool]:
    """Every problem in one file, and whether charmcraft's model took part."""
    try:
        loaded: object = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        return [f"cannot read: {err}"], False
    meta = _mapping(loaded)
    if meta is None:
        return ["must be a YAML mapping"], False
    problems: list[str] = []
    if path.name == "metadata.yaml":
        unknown = sorted(set(meta) - METADATA_KEYS)
        problems += [f"(top level): unknown key {key!r}" for key in unknown]
    from_charmcraft = charmcraft_problems(meta)
    problems += from_charmcraft or []
    checks = (check_storage, check_resources, check_containers, check_relations, check_assumes)
    for check in checks:
        problems += check(meta)
    return problems, from_charmcraft is not None


def main(argv: list[str] | None = None) -> int:
    """Check each file named on the command line; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument(
        "--require-charmcraft",
        action="store_true",
        help="fail when charmcraft's models cannot be imported",
    )
    args = parser.parse_args(argv)
    if args.require_charmcraft and importlib.util.find_spec("charmcraft") is None:
        print("charmcraft is not importable, and --require-charmcraft was given")
        return 2
    failed = False
    for path in cast("list[Path]", args.files):
        problems, used_charmcraft = check_file(path)
        if problems:
            failed = True
            for problem in problems:
                print(f"{path}: {problem}")
            continue
        how = "charmcraft's model and Juju's rules" if used_charmcraft else "Juju's rules only"
        print(f"{path}: valid ({how})")
        if not used_charmcraft:
            print(f"{path}: note: charmcraft is not installed, its model was not run")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
