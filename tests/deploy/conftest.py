"""promtool, from Debian's prometheus package, unpacked by the project's own script."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

PROMTOOL_SH = Path(__file__).parent.parent.parent / "deploy" / "prometheus" / "promtool.sh"


@pytest.fixture(scope="session")
def promtool() -> str:
    """The path of promtool (deploy/prometheus/promtool.sh installs it on first use)."""
    script = subprocess.run([str(PROMTOOL_SH)], capture_output=True, text=True, timeout=600)
    assert script.returncode == 0, script.stderr
    return script.stdout.strip()
