"""The app under test's manifest (whiskey-app.yml) is checked on the controller before any host is touched:
every bad field gets one message naming it and what is allowed (playbooks/filter_plugins/whiskey_app.py)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT, run

spec = importlib.util.spec_from_file_location(
    "whiskey_app", ROOT / "playbooks" / "filter_plugins" / "whiskey_app.py"
)
whiskey_app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(whiskey_app)

BACKENDS = yaml.safe_load((ROOT / "group_vars" / "all" / "backends.yml").read_text())["whiskey_backends"]
HASH = "--hash=sha256:" + "ab" * 32
LOCK = f"flask==3.1.3 \\\n    {HASH}\nwerkzeug==3.1.9 \\\n    {HASH}\n"
GOOD = {
    "name": "demo",
    "version": "0.1",
    "wsgi": "demo.wsgi:app",
    "source": ".",
    "requirements": "requirements.txt",
    "health": "/health",
    "requests": [{"path": "/a?id={id}", "weight": 3}, {"path": "/b"}],
    "env": {"DEMO_MODE": "fast"},
    "backends": [],
}


def make_app(tmp_path: Path, lock: str = LOCK, **fields) -> Path:
    folder = tmp_path / "demo"
    folder.mkdir(exist_ok=True)
    (folder / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "0.1"\n')
    (folder / "requirements.txt").write_text(lock)
    (folder / "src").mkdir(exist_ok=True)
    (folder / "src" / "demo.py").write_text("app = None\n")
    manifest = {k: v for k, v in {**GOOD, **fields}.items() if v is not None}
    (folder / "whiskey-app.yml").write_text(yaml.safe_dump(manifest))
    return folder


def check(folder, profile="seed", driver="wrk"):
    return whiskey_app.whiskey_app(str(folder), str(ROOT), BACKENDS, profile, driver)


def test_a_good_manifest_is_normalised(tmp_path):
    folder = make_app(tmp_path)
    result = check(folder)
    assert result["errors"] == []
    app = result["app"]
    assert app["name"] == "demo" and app["module"] == "demo.wsgi" and app["attr"] == "app"
    assert app["source"] == str(folder) and app["requirements"] == str(folder / "requirements.txt")
    assert app["requests"] == [{"path": "/a?id={id}", "weight": 3}, {"path": "/b", "weight": 1}]
    assert app["backends"] == [] and app["verify"] is None and len(app["digest"]) == 64
    assert app["commit"] is None  # tmp_path is not in git


def test_the_repository_apps_are_valid():
    quotes = check(ROOT / "app")
    assert quotes["errors"] == []
    assert quotes["app"]["name"] == "quoteserver" and quotes["app"]["backends"] == ["elasticsearch"]
    assert quotes["app"]["verify"] == {"check": "quotes", "index": "quotes"}
    assert quotes["app"]["wsgi"] == "quoteserver.wsgi:app"
    assert quotes["app"]["commit"]  # app/ is in git
    for example in sorted((ROOT / "examples").glob("*/whiskey-app.yml")):
        result = check(example.parent)
        assert result["errors"] == [], (example, result["errors"])


def test_relative_folders_resolve_against_the_repository(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert check("app")["app"]["dir"] == str(ROOT / "app")


def test_the_digest_follows_what_is_installed_not_tests_or_caches(tmp_path):
    folder = make_app(tmp_path)
    first = check(folder)["app"]["digest"]
    (folder / "tests").mkdir()
    (folder / "tests" / "test_x.py").write_text("x = 1\n")
    (folder / "src" / "__pycache__").mkdir()
    (folder / "src" / "__pycache__" / "demo.cpython-311.pyc").write_bytes(b"\0")
    assert check(folder)["app"]["digest"] == first
    (folder / "src" / "demo.py").write_text("app = 1\n")
    assert check(folder)["app"]["digest"] != first


def test_the_commit_of_an_app_in_git_and_its_changes(tmp_path):
    folder = make_app(tmp_path)
    git = ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    commit = check(folder)["app"]["commit"]
    assert commit and not commit.endswith("-dirty")
    (folder / "src" / "demo.py").write_text("app = 2\n")
    assert check(folder)["app"]["commit"] == commit + "-dirty"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "bad name"}, "name must be letters"),
        ({"wsgi": "demo.wsgi"}, "wsgi must be the WSGI callable as module:attr"),
        ({"wsgi": "demo wsgi:app"}, "wsgi must be the WSGI callable as module:attr"),
        ({"source": "nowhere"}, "source: "),
        ({"source": None}, "give exactly one of source"),
        ({"package": "demo"}, "give exactly one of source"),
        ({"requirements": "missing.txt"}, "requirements: "),
        ({"health": "health"}, "health must be a path starting with '/'"),
        ({"requests": []}, "requests must be a non-empty list"),
        ({"requests": [{"path": "a"}]}, "path must start with '/'"),
        ({"requests": [{"path": "/a", "weight": 0}]}, "weight must be an integer >= 1"),
        ({"requests": [{"path": "/a", "weight": "3"}]}, "weight must be an integer >= 1"),
        ({"requests": [{"path": "/a", "rate": 3}]}, "unknown key(s) rate"),
        ({"requests": ["/a", "/a"]}, "lists a path twice"),
        ({"requests": None}, "give requests (paths with weights) or a locustfile"),
        ({"backends": ["redis"]}, "unknown backend 'redis' (known: elasticsearch"),
        ({"env": {"1BAD": "x"}}, "'1BAD' is not an environment variable name"),
        ({"env": {"URL": "{nowhere}"}}, "unknown placeholder {nowhere}"),
        ({"setup": ["load", "{elasticsearch_url}"]}, "unknown placeholder {elasticsearch_url}"),
        ({"verify": "quotes"}, "verify: quotes compares answers with elasticsearch"),
        ({"verify": "html"}, "verify must be one of quotes"),
        ({"verify": {"check": "html"}}, "verify must be one of quotes"),
        ({"verify": {"index": "q"}}, "verify must be a check's name (quotes) or a mapping {check, index}"),
        ({"verify": ["quotes"]}, "verify must be a check's name (quotes) or a mapping {check, index}"),
        (
            {"verify": {"check": "quotes", "index": "no such"}, "backends": ["elasticsearch"]},
            "verify.index must",
        ),
        ({"colour": "red"}, "unknown field(s) colour"),
        ({"locustfile": "nope.py"}, "locustfile: "),
    ],
)
def test_each_bad_field_is_named(tmp_path, fields, message):
    result = check(make_app(tmp_path, **fields))
    assert result["app"] == {}
    assert any(message in e for e in result["errors"]), result["errors"]
    assert all(e.startswith("app") for e in result["errors"])


def test_placeholders_of_the_apps_backends_are_known(tmp_path):
    folder = make_app(
        tmp_path,
        backends=["elasticsearch"],
        env={"ES": "{elasticsearch_url}"},
        setup=["load", "--size", "{corpus_size}"],
    )
    assert check(folder)["errors"] == []


@pytest.mark.parametrize(
    ("lock", "message"),
    [
        ("flask>=3\n", "'flask>=3' is not pinned with =="),
        ("flask==3.1.3\n", "flask has no --hash"),
        (f"-r other.txt\nflask==3.1.3 {HASH}\n", "option '-r' is not allowed"),
        ("# only a comment\n", "pins nothing"),
    ],
)
def test_the_requirements_must_be_a_hash_lock(tmp_path, lock, message):
    result = check(make_app(tmp_path, lock=lock))
    assert any(message in e and "requirements" in e for e in result["errors"]), result["errors"]


def test_a_package_app_must_be_pinned_in_its_lock(tmp_path):
    result = check(make_app(tmp_path, source=None, package="demo-app"))
    assert any("demo-app is not pinned in requirements.txt" in e for e in result["errors"]), result["errors"]
    assert check(make_app(tmp_path, source=None, package="flask"))["errors"] == []


def test_a_locustfile_alone_drives_only_locust(tmp_path):
    folder = make_app(tmp_path, requests=None, locustfile="locustfile.py")
    (folder / "locustfile.py").write_text("from locust import HttpUser\n")
    assert check(folder, "seed")["errors"] == []
    assert check(folder, "throughput", "locust")["errors"] == []
    for profile, driver in (("capacity", "wrk"), ("throughput", "wrk")):
        errors = check(folder, profile, driver)["errors"]
        assert any(f"load_profile={profile}" in e and "needs the app's requests" in e for e in errors), errors


@pytest.mark.parametrize("value", ["", "/no/such/folder", "tests"])
def test_the_app_variable_names_a_folder_with_a_manifest(value):
    errors = check(value)["errors"]
    assert len(errors) == 1 and errors[0].startswith("app"), errors


def test_broken_yaml_is_named(tmp_path):
    folder = make_app(tmp_path)
    (folder / "whiskey-app.yml").write_text("name: [unclosed\n")
    assert "is not valid YAML" in check(folder)["errors"][0]


def test_expand_fills_known_placeholders_only():
    facts = {"elasticsearch_url": "http://127.0.0.1:9200", "corpus_size": 50}
    app = {
        "env": {"ES": "{elasticsearch_url}"},
        "setup": ["--size", "{corpus_size}"],
        "requests": [{"path": "/q?id={id}", "weight": 1}],
    }
    out = whiskey_app.whiskey_app_expand(app, facts)
    assert out["env"] == {"ES": "http://127.0.0.1:9200"} and out["setup"] == ["--size", "50"]
    assert out["requests"][0]["path"] == "/q?id={id}"
    assert whiskey_app.whiskey_app_facts(
        {"backends": ["elasticsearch"]}, {"elasticsearch": {"facts": {"u": 1}}}, 7
    ) == {"corpus_size": 7, "u": 1}


def test_bench_yml_stops_on_a_bad_manifest_before_any_host(tmp_path):
    folder = make_app(tmp_path, wsgi="nocolon")
    done = run(
        ["ansible-playbook", "bench.yml", "-i", "tests/data/unreachable.yml", "-e", f"app={folder}"],
        timeout=120,
    )
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert "wsgi must be the WSGI callable as module:attr (e.g. myapp.wsgi:app), got 'nocolon'" in out
    assert "UNREACHABLE" not in out
    assert re.findall(r"^(\S+)\s+:", out.split("PLAY RECAP", 1)[1], re.M) == ["localhost"]
    missing = run(
        [
            "ansible-playbook",
            "bench.yml",
            "-i",
            "tests/data/unreachable.yml",
            "-e",
            f"app={tmp_path / 'nothing'}",
        ],
        timeout=120,
    )
    assert missing.returncode != 0 and "is not a folder" in missing.stdout + missing.stderr


def test_verify_by_name_is_the_quotes_index_and_a_mapping_names_another(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    by_name = check(make_app(tmp_path / "a", verify="quotes", backends=["elasticsearch"]))
    assert by_name["errors"] == [] and by_name["app"]["verify"] == {"check": "quotes", "index": "quotes"}
    other = check(
        make_app(tmp_path / "b", verify={"check": "quotes", "index": "q2"}, backends=["elasticsearch"])
    )
    assert other["errors"] == [] and other["app"]["verify"] == {"check": "quotes", "index": "q2"}


def test_the_role_s_tarball_holds_exactly_the_files_the_digest_covers(tmp_path):
    """roles/quoteserver/tasks/app.yml packs with tar --exclude=app["pack_excludes"]: the same files as the digest."""
    folder = make_app(tmp_path)
    for rel in ("tests/test_a.py", "src/tests/keep.py", "build/x", "src/build", "demo.egg-info/PKG-INFO",
                "src/__pycache__/a.pyc", "src/b.pyc", ".git/HEAD", ".gitignore", "docs/build.md"):  # fmt: skip
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(rel)
    excludes = check(folder)["app"]["pack_excludes"]
    tar = subprocess.run(
        ["tar", "--create", f"--directory={folder}", *[f"--exclude={e}" for e in excludes], "."],
        capture_output=True, check=True,
    )  # fmt: skip
    listed = subprocess.run(
        ["tar", "--list"], input=tar.stdout, capture_output=True, check=True
    ).stdout.decode()
    members = sorted(m[2:] for m in listed.splitlines() if not m.endswith("/"))
    walked = sorted(p.relative_to(folder).as_posix() for p in whiskey_app._files(folder))
    assert members == walked
    assert "src/tests/keep.py" in walked and ".gitignore" in walked and "docs/build.md" in walked
    assert not {"tests/test_a.py", "build/x", "src/build", "src/b.pyc", ".git/HEAD"} & set(walked)
