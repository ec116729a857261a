"""Print the README's settings table from the registry in trail/config.py (paste it into README.md)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trail.config import SETTINGS  # noqa: E402

print("| setting | default | what it does |")
print("|---|---|---|")
for s in SETTINGS:
    default = f"`{s.default}`" if s.default else "(unset)"
    print(f"| `{s.name}` | {default} | {s.help} |")
