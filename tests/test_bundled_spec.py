"""The bundled spec is exactly what the curation script makes of shared/twill-api."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[1]
SHARED = ROOT.parent / "shared" / "twill-api"


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared/twill-api is not beside this checkout")
def test_the_bundled_spec_is_up_to_date_with_shared_twill_api() -> None:
    done = subprocess.run(
        [sys.executable, "scripts/bundle_spec.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_only_the_authoritative_operation_is_not_marked_inferred() -> None:
    from twill_mcp.spec.openapi import load_bundled_spec

    verified = [
        op["operationId"]
        for item in load_bundled_spec()["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op and not op.get("x-inferred")
    ]
    assert verified == ["cancelTask"]
