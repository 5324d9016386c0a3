"""Build the task view (twill_mcp/data/task-app.html), the MCP App get_task and wait_for_task point hosts at.

app/src/main.ts and the ext-apps `App` class it imports are bundled by esbuild (app/build.mjs) into one script;
it and app/src/style.css are inlined into app/src/index.html, so the shipped document fetches
nothing. The document records the SHA-256 of its sources (app/src, app/build.mjs, app/package.json,
app/package-lock.json and this script): tests/test_task_app.py fails when they change and the
document is not rebuilt, without needing Node.

Usage: python scripts/build_app.py [--check]   (needs Node.js and npm; installs app/node_modules
with `npm ci` when missing; --check exits 1 when the shipped document differs from a fresh build)
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app"
TARGET = ROOT / "twill_mcp" / "data" / "task-app.html"
ESBUILD = APP / "node_modules" / ".bin" / "esbuild"
MARK = "<!-- twill-mcp task view, built by scripts/build_app.py from sources sha256:{digest} -->"
SOURCES_MARK = re.compile(re.escape(MARK).replace(re.escape("{digest}"), "([0-9a-f]{64})"))


def sources() -> list[Path]:
    """What the document is built from, in a fixed order."""
    return [
        *sorted(path for path in (APP / "src").rglob("*") if path.is_file()),
        APP / "build.mjs",
        APP / "package.json",
        APP / "package-lock.json",
        Path(__file__).resolve(),
    ]


def sources_digest() -> str:
    digest = hashlib.sha256()
    for path in sources():
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0")
        digest.update(path.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()


def recorded_digest(document: str) -> str | None:
    match = SOURCES_MARK.search(document)
    return match.group(1) if match else None


def bundle() -> str:
    if not ESBUILD.exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=APP, check=True, capture_output=True, timeout=300)
    done = subprocess.run(["node", "build.mjs"], cwd=APP, check=True, capture_output=True, text=True, timeout=120)
    return done.stdout


def build() -> str:
    script = bundle()
    # Inlined in <script>: a literal "</script" (or "<!--") in the bundle would end or confuse the element.
    if re.search(r"</script|<!--", script, re.IGNORECASE):
        raise SystemExit("the bundle holds </script or <!--: it cannot be inlined as is")
    style = (APP / "src" / "style.css").read_text(encoding="utf-8")
    page = (APP / "src" / "index.html").read_text(encoding="utf-8")
    page = page.replace("<!doctype html>\n", f"<!doctype html>\n{MARK.format(digest=sources_digest())}\n", 1)
    page = page.replace("<!--STYLE-->", f"<style>\n{style}</style>", 1)
    return page.replace("<!--SCRIPT-->", f"<script>{script}</script>", 1)


def main(argv: list[str]) -> int:
    document = build()
    if "--check" in argv:
        if TARGET.read_text(encoding="utf-8") != document:
            print(f"{TARGET.relative_to(ROOT)} is stale: run python scripts/build_app.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(document, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)} ({len(document.encode())} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
