"""Dependencies point inward: the domain never imports the web layers, and the SDK nothing of the server."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_after(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {m.split(".")[0] for m in out.split()}


def test_the_store_and_services_import_no_web_framework():
    for module in ("chronos.store.executions", "chronos.db", "chronos.analytics", "chronos.supervisor"):
        loaded = imported_after(module)
        assert not loaded & {"flask", "dash", "ingest_api", "pages", "callbacks", "web"}, module


def test_the_sdk_imports_nothing_from_the_server():
    sdk = ROOT / "sdk" / "chronos_sdk"
    for path in sdk.rglob("*.py"):
        text = path.read_text()
        for name in ("chronos.", "ingest_api", "from app ", "import app"):
            assert f"import {name}" not in text and f"from {name}" not in text, (path, name)
