"""The docs stay true to the code: every setting is documented, every linked doc exists."""
from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from chronos.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_in_the_readme():
    readme = ROOT.joinpath("README.md").read_text()
    documented = set(re.findall(r"`([A-Z_]+)`", readme))
    missing = [f.name.upper() for f in fields(Settings) if f.name != "extra" and f.name.upper() not in documented]
    assert not missing, f"settings missing from the README's table: {missing}"


def test_linked_docs_exist():
    readme = ROOT.joinpath("README.md").read_text()
    for target in re.findall(r"\]\(((?:docs|sdk)/[^)#]+)\)", readme):
        assert ROOT.joinpath(target).exists(), target
