"""report.html in headless Chromium: the table and every image render, no console errors, offline.

Needs Debian's `chromium`. The screenshot is kept as tests/artifacts/report.png (git-ignored).
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=5000",
]
# Reports a broken or external image / stylesheet / script into the DOM, read back with --dump-dom.
PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  document.body.setAttribute('data-probe', JSON.stringify({
    images: imgs.length,
    broken: imgs.filter(i => !i.complete || i.naturalWidth === 0).length,
    external: [...document.querySelectorAll('[src],[href]')]
      .map(e => e.getAttribute('src') || e.getAttribute('href'))
      .filter(u => !u.startsWith('data:') && !u.startsWith('#')).length,
    rows: document.querySelectorAll('#summary-table tbody tr').length,
  }));
});
</script>"""


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (apt-get install -y chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _console_errors(stderr: str) -> list[str]:
    return [
        line for line in stderr.splitlines() if re.search(r"CONSOLE|Uncaught|Failed to load resource", line)
    ]


def test_console_capture_works(tmp_path):
    """Positive control: a console error in a page does show up in what the test reads."""
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>console.error('whiskey-probe-error')</script></body></html>")
    res = _chromium(tmp_path, "--dump-dom", page.as_uri())
    assert any("whiskey-probe-error" in line for line in _console_errors(res.stderr))


def test_report_renders(built_a, tmp_path, artifacts):
    html = built_a.html.read_text()
    assert "<script" not in html and "http://" not in html and "https://" not in html
    probed = tmp_path / "probed.html"
    probed.write_text(html.replace("</body>", PROBE + "</body>"))
    res = _chromium(tmp_path, "--dump-dom", probed.as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    assert _console_errors(res.stderr) == []
    m = re.search(r'data-probe="([^"]+)"', res.stdout)
    assert m, "the page did not finish loading"
    probe = m.group(1).replace("&quot;", '"')
    import json

    data = json.loads(probe)
    assert data == {"images": 4, "broken": 0, "external": 0, "rows": 4}
    assert "Run fixture-a" in res.stdout and "whiskey-fallback-collector" in res.stdout

    shot = artifacts / "report.png"
    shot.unlink(missing_ok=True)
    res = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1366,2400", built_a.html.as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    assert _console_errors(res.stderr) == []
    assert shot.exists() and shot.stat().st_size > 50_000


def test_compare_renders(run_a, run_b, tmp_path, artifacts):
    from whiskey_report.compare import compare, write_html

    page = write_html(compare(run_a, run_b), tmp_path / "compare.html")
    shot = artifacts / "compare.png"
    shot.unlink(missing_ok=True)
    res = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1366,1200", page.as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    assert _console_errors(res.stderr) == []
    assert shot.exists()
    res = _chromium(tmp_path, "--dump-dom", page.as_uri())
    assert res.stdout.count("<tr>") >= 13  # header + 2 rows x 6 metrics
    assert "fixture-b compared with fixture-a" in res.stdout
