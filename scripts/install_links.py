"""Print the README's one-click install links for VS Code and Cursor, made from the entry `twill-mcp install` writes.

Usage: python scripts/install_links.py   (paste between the markers in README.md;
tests/test_install_links.py fails while the README and this output differ, or a link does not decode to the entry)

A link cannot know where twill-mcp is installed, so it names the command `twill-mcp` (found on PATH);
`twill-mcp install HOST` writes the absolute path instead.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote, urlencode

from twill_mcp.install import HOSTS, PLACEHOLDER_KEY, SERVER_NAME, VSCODE_INPUT, entry_for

BEGIN = "<!-- install-links:begin -->"
END = "<!-- install-links:end -->"
COMMAND = ["twill-mcp"]
# Which tab of its store a link opens in: GitHub renders only http(s) links, so each has a web redirect too.
VSCODE_REDIRECT = "https://insiders.vscode.dev/redirect/mcp/install"
CURSOR_WEB = "https://cursor.com/en/install-mcp"
CURSOR_DEEPLINK = "cursor://anysphere.cursor-deeplink/mcp/install"


def vscode_entry() -> dict[str, Any]:
    return entry_for(HOSTS["vscode"], COMMAND, None, sandbox=False)


def cursor_entry() -> dict[str, Any]:
    # The key is the user's to paste in Cursor's settings; until then the server starts and says it is a placeholder.
    return entry_for(HOSTS["cursor"], COMMAND, PLACEHOLDER_KEY, sandbox=False)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def vscode_link() -> str:
    """VS Code's own URL handler: the entry, named, with the password prompt its key comes from."""
    return "vscode:mcp/install?" + quote(_json({"name": SERVER_NAME, **vscode_entry(), "inputs": [VSCODE_INPUT]}))


def vscode_web_link() -> str:
    query = {"name": SERVER_NAME, "inputs": _json([VSCODE_INPUT]), "config": _json(vscode_entry())}
    return f"{VSCODE_REDIRECT}?{urlencode(query, quote_via=quote)}"


def _cursor_config() -> str:
    return base64.b64encode(_json(cursor_entry()).encode()).decode()


def cursor_link() -> str:
    return f"{CURSOR_DEEPLINK}?{urlencode({'name': SERVER_NAME, 'config': _cursor_config()})}"


def cursor_web_link() -> str:
    return f"{CURSOR_WEB}?{urlencode({'name': SERVER_NAME, 'config': _cursor_config()})}"


def markdown() -> str:
    return "\n".join(
        [
            BEGIN,
            f"[Install in VS Code]({vscode_web_link()}) · [Install in Cursor]({cursor_web_link()})",
            "",
            f"(Where app links open directly: [VS Code]({vscode_link()}) · [Cursor]({cursor_link()}).)",
            END,
        ]
    )


if __name__ == "__main__":
    print(markdown())
