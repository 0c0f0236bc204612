"""The app under test: read and check its manifest (`whiskey-app.yml` in the app's folder) on the controller.

`-e app=examples/cpu-bound` names a folder; the manifest in it says what whiskey needs to serve and load the app
(the format is in the README, "Your own app"). `whiskey_app` returns {'errors': [...], 'app': {...}}: every error
names the manifest field (or the variable `app`) and what is allowed, so bench.yml stops before any host is
touched; `app` is the normalised manifest with absolute paths and the app's identity (digest of what is installed,
git commit of its folder) that the report names and the runs' fingerprints include.

`whiskey_app_expand` fills the `{name}` placeholders of the manifest's env and setup command on the server, from
the facts the app's backends publish (group_vars/all/backends.yml) and the bench's corpus_size.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

MANIFEST = "whiskey-app.yml"
FIELDS = (
    "name",
    "version",
    "wsgi",
    "source",
    "package",
    "requirements",
    "build_requirements",
    "system_packages",
    "env",
    "health",
    "requests",
    "locustfile",
    "backends",
    "setup",
    "verify",
)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
WSGI_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")
ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PACKAGE_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]*$")
REQUIREMENT_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*([^\s;\\]+)")
PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Placeholders every app may use, besides its backends' facts.
BENCH_FACTS = ("corpus_size",)
# The built-in answer checks of the probe (roles/bench/files/whiskey_probe.py --verify).
VERIFY = {"quotes": "elasticsearch"}
# Not part of the installed app, so no part of its identity: names (files or folders, at any depth, shell
# patterns) and the top-level folders the role's tarball leaves out. The tarball is made with exactly these
# (app["pack_excludes"], tar's --exclude), the digest walks the folder with them: one list, one meaning.
SKIP_NAMES = (".git", ".pytest_cache", ".ruff_cache", ".tox", ".venv", "__pycache__", "build", "dist", "*.egg-info",
              "*.pyc")  # fmt: skip
SKIP_TOP = ("tests",)
REQUEST_KEYS = {"path", "weight"}


def _where(manifest: Path, field: str) -> str:
    return f"app: {manifest}: {field}"


def _rel_file(
    base: Path, value: Any, manifest: Path, field: str, errors: list[str], kind: str
) -> Path | None:
    if not isinstance(value, str) or not value.strip():
        errors.append(
            f"{_where(manifest, field)} must be a path relative to the manifest's folder, got {value!r}"
        )
        return None
    path = (base / value).resolve()
    ok = path.is_dir() if kind == "dir" else path.is_file()
    if not ok:
        errors.append(f"{_where(manifest, field)}: {path} is not {'a folder' if kind == 'dir' else 'a file'}")
        return None
    return path


def _requirement_lines(path: Path) -> list[tuple[int, str]]:
    """(first line number, logical line) of a requirements file: continuations joined, comments dropped."""
    out: list[tuple[int, str]] = []
    buf, start = "", 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not buf:
            start = number
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        if buf.strip():
            out.append((start, buf.strip()))
        buf = ""
    if buf.strip():
        out.append((start, buf.strip()))
    return out


def check_lock(path: Path, manifest: Path, field: str, errors: list[str]) -> dict[str, str]:
    """name -> version of a hash lock; every requirement must be `name==version` with at least one --hash."""
    pins: dict[str, str] = {}
    how = (
        "whiskey installs it with pip --require-hashes: make it with "
        "`pip-compile --generate-hashes --allow-unsafe` (see `make lock`)"
    )
    for number, line in _requirement_lines(path):
        if line.startswith("-"):
            errors.append(
                f"{_where(manifest, field)} {path.name}:{number}: option {line.split()[0]!r} is not allowed: "
                f"one pinned requirement per entry ({how})"
            )
            continue
        match = REQUIREMENT_RE.match(line)
        if not match:
            errors.append(
                f"{_where(manifest, field)} {path.name}:{number}: {line.split()[0]!r} is not pinned with "
                f"== ({how})"
            )
            continue
        if "--hash=sha256:" not in line:
            errors.append(
                f"{_where(manifest, field)} {path.name}:{number}: {match.group(1)} has no --hash ({how})"
            )
            continue
        pins[match.group(1).lower().replace("_", "-")] = match.group(3)
    if not pins and not any(e.startswith(_where(manifest, field)) for e in errors):
        errors.append(f"{_where(manifest, field)}: {path.name} pins nothing")
    return pins


def _requests(value: Any, manifest: Path, errors: list[str]) -> list[dict[str, Any]]:
    field = _where(manifest, "requests")
    if value is None:
        return []
    if not isinstance(value, list) or not value:
        errors.append(f"{field} must be a non-empty list of {{path: /..., weight: N}}, got {value!r}")
        return []
    out = []
    for i, item in enumerate(value, start=1):
        if isinstance(item, str):
            item = {"path": item}
        if not isinstance(item, dict):
            errors.append(f"{field} entry {i} must be a mapping {{path: /..., weight: N}}, got {item!r}")
            continue
        unknown = sorted(set(item) - REQUEST_KEYS)
        if unknown:
            errors.append(
                f"{field} entry {i} has unknown key(s) {', '.join(unknown)} (allowed: path, weight)"
            )
        path, weight = item.get("path"), item.get("weight", 1)
        if not isinstance(path, str) or not path.startswith("/") or any(c.isspace() for c in path):
            errors.append(f"{field} entry {i}: path must start with '/' and hold no spaces, got {path!r}")
            continue
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 1:
            errors.append(f"{field} entry {i} ({path}): weight must be an integer >= 1, got {weight!r}")
            continue
        out.append({"path": path, "weight": weight})
    if len({r["path"] for r in out}) != len(out):
        errors.append(f"{field} lists a path twice (give it a larger weight instead)")
    return out


def _placeholders(value: str, known: set[str], manifest: Path, field: str, errors: list[str]) -> None:
    for name in PLACEHOLDER_RE.findall(value):
        if name not in known:
            errors.append(
                f"{_where(manifest, field)}: unknown placeholder {{{name}}} (known: "
                + ", ".join("{" + k + "}" for k in sorted(known))
                + ")"
            )


def _string_list(
    value: Any, manifest: Path, field: str, errors: list[str], pattern: re.Pattern | None = None
) -> list:
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in value
    ):
        errors.append(f"{_where(manifest, field)} must be a list of strings, got {value!r}")
        return []
    out = [str(v) for v in value]
    if pattern is not None:
        for v in out:
            if not pattern.match(v):
                errors.append(f"{_where(manifest, field)}: {v!r} is not a valid name")
    return out


def pack_excludes() -> list[str]:
    """tar's --exclude patterns of the role's tarball (member names start with ./ when it packs `.`)."""
    return [*SKIP_NAMES, *(f"./{top}" for top in SKIP_TOP)]


def _skipped(name: str, top: bool) -> bool:
    return any(fnmatch.fnmatchcase(name, pat) for pat in SKIP_NAMES) or (top and name in SKIP_TOP)


def _files(root: Path) -> list[Path]:
    """The files the role packs from a source folder (sorted): what tar --exclude=pack_excludes() keeps."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        top = Path(dirpath) == root
        dirnames[:] = sorted(d for d in dirnames if not _skipped(d, top))
        found.extend(Path(dirpath) / f for f in sorted(filenames) if not _skipped(f, top))
    return found


def app_digest(manifest: Path, paths: list[Path], source: Path | None) -> str:
    """sha256 over the manifest, the requirement files and the packed source (names and contents)."""
    h = hashlib.sha256()
    files = [manifest, *paths] + (_files(source) if source else [])
    base = manifest.parent
    for path in files:
        try:
            name = path.relative_to(base).as_posix()
        except ValueError:
            name = path.name
        h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def git_commit(folder: Path) -> str | None:
    """The last commit that changed `folder` (short), with -dirty when it has uncommitted changes; None outside
    git."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=20, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("log", "-1", "--format=%h", "--", ".")
    if not commit:
        return None
    dirty = git("status", "--porcelain", "--", ".")
    return commit + ("-dirty" if dirty else "")


def whiskey_app(
    value: Any,
    root: str,
    backends: dict[str, Any],
    load_profile: str = "seed",
    load_driver: str = "wrk",
) -> dict[str, Any]:
    """Check the app folder `value` (absolute, or relative to the current directory, then to `root`, the
    repository) and its manifest; return {'errors': [...], 'app': {...}}."""
    errors: list[str] = []
    text = str(value if value is not None else "").strip()
    if not text:
        return {
            "errors": ["app must name a folder holding a whiskey-app.yml, e.g. -e app=examples/cpu-bound"],
            "app": {},
        }
    folder = Path(text).expanduser()
    if not folder.is_absolute():
        folder = Path.cwd() / folder if (Path.cwd() / folder).exists() else Path(root) / folder
    folder = folder.resolve()
    if not folder.is_dir():
        return {
            "errors": [f"app={text!r}: {folder} is not a folder (it must hold the app's {MANIFEST})"],
            "app": {},
        }
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return {
            "errors": [
                f"app={text!r}: {folder} has no {MANIFEST} (the app's manifest: see the README, "
                '"Your own app")'
            ],
            "app": {},
        }
    try:
        doc = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return {"errors": [f"app: {manifest} is not valid YAML: {' '.join(str(exc).split())}"], "app": {}}
    if not isinstance(doc, dict):
        return {
            "errors": [
                f"app: {manifest} must be a mapping of the manifest's fields, got {type(doc).__name__}"
            ],
            "app": {},
        }
    unknown = sorted(set(doc) - set(FIELDS))
    if unknown:
        errors.append(
            f"app: {manifest}: unknown field(s) {', '.join(map(str, unknown))} (allowed: {', '.join(FIELDS)})"
        )

    name = doc.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        errors.append(
            f"{_where(manifest, 'name')} must be letters, digits, '.', '_' or '-' (at most 64), got {name!r}"
        )
    version = doc.get("version")
    version = "" if version is None else str(version)
    wsgi = doc.get("wsgi")
    if not isinstance(wsgi, str) or not WSGI_RE.match(wsgi):
        errors.append(
            f"{_where(manifest, 'wsgi')} must be the WSGI callable as module:attr "
            f"(e.g. myapp.wsgi:app), got {wsgi!r}"
        )

    source = package = None
    if ("source" in doc) == ("package" in doc):
        errors.append(
            f"app: {manifest}: give exactly one of source (the app's folder, relative to the manifest) "
            "and package (a requirement pinned in the lock, e.g. myapp)"
        )
    elif "source" in doc:
        source = _rel_file(folder, doc["source"], manifest, "source", errors, "dir")
        if source and not any((source / f).is_file() for f in ("pyproject.toml", "setup.py")):
            errors.append(
                f"{_where(manifest, 'source')}: {source} has no pyproject.toml or setup.py "
                "(pip installs it as a package)"
            )
    else:
        package = doc["package"]
        if not isinstance(package, str) or not PACKAGE_RE.match(package.lower().replace("_", "-")):
            errors.append(
                f"{_where(manifest, 'package')} must be a distribution name pinned in the lock, "
                f"got {package!r}"
            )
            package = None

    requirements = _rel_file(folder, doc.get("requirements"), manifest, "requirements", errors, "file")
    pins = check_lock(requirements, manifest, "requirements", errors) if requirements else {}
    if package and requirements and package.lower().replace("_", "-") not in pins:
        errors.append(
            f"{_where(manifest, 'package')}: {package} is not pinned in {requirements.name} "
            "(the app is installed from the lock)"
        )
    build = None
    if doc.get("build_requirements") is not None:
        build = _rel_file(folder, doc["build_requirements"], manifest, "build_requirements", errors, "file")
        if build:
            check_lock(build, manifest, "build_requirements", errors)

    health = doc.get("health")
    if not isinstance(health, str) or not health.startswith("/") or any(c.isspace() for c in health):
        errors.append(
            f"{_where(manifest, 'health')} must be a path starting with '/' that answers 200 once the "
            f"app serves, got {health!r}"
        )
    requests = _requests(doc.get("requests"), manifest, errors)
    locustfile = None
    if doc.get("locustfile") is not None:
        locustfile = _rel_file(folder, doc["locustfile"], manifest, "locustfile", errors, "file")
    if not requests and "requests" not in doc:
        if locustfile is None:
            errors.append(f"app: {manifest}: give requests (paths with weights) or a locustfile")
        elif load_profile == "capacity" or (load_profile == "throughput" and load_driver == "wrk"):
            errors.append(
                f"app: {manifest}: load_profile={load_profile}"
                + (f" with load_driver={load_driver}" if load_profile == "throughput" else "")
                + " needs the app's requests (a locustfile drives only Locust: the seed profile, or throughput "
                "with load_driver=locust)"
            )

    table = backends if isinstance(backends, dict) else {}
    names = _string_list(doc.get("backends"), manifest, "backends", errors)
    for b in names:
        if b not in table:
            errors.append(
                f"{_where(manifest, 'backends')}: unknown backend {b!r} (known: "
                f"{', '.join(sorted(table)) or 'none'}; group_vars/all/backends.yml)"
            )
    known = set(BENCH_FACTS) | {f for b in names if b in table for f in (table[b].get("facts") or {})}

    env = doc.get("env") or {}
    if not isinstance(env, dict):
        errors.append(f"{_where(manifest, 'env')} must be a mapping NAME: value, got {env!r}")
        env = {}
    clean_env = {}
    for key, val in env.items():
        if not isinstance(key, str) or not ENV_RE.match(key):
            errors.append(f"{_where(manifest, 'env')}: {key!r} is not an environment variable name")
            continue
        if isinstance(val, dict | list) or val is None:
            errors.append(f"{_where(manifest, 'env')}: {key} must be a string or a number, got {val!r}")
            continue
        clean_env[key] = str(val).lower() if isinstance(val, bool) else str(val)
        _placeholders(clean_env[key], known, manifest, f"env.{key}", errors)

    setup = _string_list(doc.get("setup"), manifest, "setup", errors)
    for arg in setup:
        _placeholders(arg, known, manifest, "setup", errors)
    packages = _string_list(
        doc.get("system_packages"), manifest, "system_packages", errors, re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
    )
    verify = _verify(doc.get("verify"), names, manifest, errors)

    if errors:
        return {"errors": errors, "app": {}}
    module, attr = wsgi.split(":")
    extra = [p for p in (requirements, build, locustfile) if p]
    return {
        "errors": [],
        "app": {
            "dir": str(folder),
            "manifest": str(manifest),
            "name": name,
            "version": version,
            "wsgi": wsgi,
            "module": module,
            "attr": attr,
            "source": str(source) if source else None,
            "package": package,
            "requirements": str(requirements),
            "build_requirements": str(build) if build else None,
            "system_packages": packages,
            "env": clean_env,
            "health": health,
            "requests": requests,
            "locustfile": str(locustfile) if locustfile else None,
            "backends": names,
            "setup": setup,
            "verify": verify,
            "digest": app_digest(manifest, extra, source),
            "pack_excludes": pack_excludes(),
            "commit": git_commit(folder),
        },
    }


def _verify(raw: Any, backends: list[str], manifest: Path, errors: list[str]) -> dict[str, str] | None:
    """`verify`: a built-in answer check by name (`quotes`), or {check: quotes, index: NAME} to name the index
    the answers are compared with (default: quotes). Normalized to the mapping."""
    if raw is None:
        return None
    where = _where(manifest, "verify")
    doc = {"check": raw} if isinstance(raw, str) else raw
    if not isinstance(doc, dict) or set(doc) - {"check", "index"} or "check" not in doc:
        errors.append(
            f"{where} must be a check's name ({', '.join(VERIFY)}) or a mapping {{check, index}}, got {raw!r}"
        )
        return None
    check, index = doc["check"], doc.get("index", "quotes")
    if check not in VERIFY:
        errors.append(
            f"{where} must be one of {', '.join(VERIFY)} (the probe's built-in answer checks) or left out, "
            f"got {check!r}"
        )
        return None
    if VERIFY[check] not in backends:
        errors.append(
            f"{where}: {check} compares answers with {VERIFY[check]}, which must be one of the app's backends"
        )
    if not isinstance(index, str) or not NAME_RE.match(index):
        errors.append(f"{where}.index must be an index name (letters, digits, . _ -), got {index!r}")
    return {"check": check, "index": index}


def whiskey_app_identity(app: dict[str, Any]) -> dict[str, Any]:
    """What names the app in run.json, the report and the fingerprint (no paths: a clone elsewhere is the same
    app)."""
    keys = ("name", "version", "commit", "digest", "wsgi", "requests", "backends", "health", "env", "verify")
    ident = {k: app.get(k) for k in keys}
    ident["locustfile"] = Path(app["locustfile"]).name if app.get("locustfile") else None
    return ident


def whiskey_app_expand(value: Any, facts: dict[str, Any]) -> Any:
    """Fill {name} placeholders in a string, or in every string of a list or of a mapping's values."""
    if isinstance(value, str):
        return PLACEHOLDER_RE.sub(
            lambda m: str(facts[m.group(1)]) if m.group(1) in facts else m.group(0), value
        )
    if isinstance(value, list):
        return [whiskey_app_expand(v, facts) for v in value]
    if isinstance(value, dict):
        return {k: whiskey_app_expand(v, facts) for k, v in value.items()}
    return value


def whiskey_app_facts(app: dict[str, Any], backends: dict[str, Any], corpus_size: Any) -> dict[str, Any]:
    """The values the app's {name} placeholders take: its backends' facts and the bench's corpus_size."""
    facts: dict[str, Any] = {"corpus_size": int(corpus_size)}
    for name in app.get("backends") or []:
        facts.update((backends.get(name) or {}).get("facts") or {})
    return facts


def whiskey_app_backends(app: dict[str, Any], backends: dict[str, Any]) -> list[dict[str, Any]]:
    """The app's backends as entries of the table, each with its name, in the manifest's order."""
    return [{"name": name, **(backends.get(name) or {})} for name in app.get("backends") or []]


class FilterModule:
    def filters(self):
        return {
            "whiskey_app": whiskey_app,
            "whiskey_app_identity": whiskey_app_identity,
            "whiskey_app_expand": whiskey_app_expand,
            "whiskey_app_facts": whiskey_app_facts,
            "whiskey_app_backends": whiskey_app_backends,
        }
