"""Refresh trail/ingest/data/referers.json from the Snowplow referer-parser database.

Usage:
    python scripts/update_referrers.py [SOURCE]

SOURCE is a referers.yml or referers.json: a local path or an http(s) URL. By default the upstream
JSON build of snowplow-referer-parser (resources/referers-<date>.json in the GitHub repository
snowplow-referer-parser/referer-parser, or its latest YAML at
https://s3-eu-west-1.amazonaws.com/snowplow-hosted-assets/third-party/referer-parser/referers-latest.yml).

The file keeps upstream's shape, {medium: {source name: {"domains": [...], "parameters": [...]}}}, so
trail.ingest.referrer reads any release. The script validates it (every medium maps names to domain lists),
writes it compactly and prints how many hosts changed. Keep data/LICENSE.referers.md in step with the
upstream licence, and run `pytest tests/ingest` afterwards.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

TARGET = Path(__file__).resolve().parents[1] / "trail" / "ingest" / "data" / "referers.json"
DEFAULT = ("https://s3-eu-west-1.amazonaws.com/snowplow-hosted-assets/third-party/referer-parser/"
           "referers-latest.yml")


def load(source: str) -> dict:
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=60) as response:  # noqa: S310 - a URL the operator chose
            raw = response.read().decode("utf-8")
    else:
        raw = Path(source).read_text("utf-8")
    if source.endswith((".yml", ".yaml")):
        import yaml  # PyYAML, a dev dependency

        return yaml.safe_load(raw)
    return json.loads(raw)


def validate(data: dict) -> None:
    if not isinstance(data, dict) or not data:
        raise SystemExit("not a referer database: expected {medium: {name: {domains: [...]}}}")
    for medium, sources in data.items():
        for name, entry in sources.items():
            domains = entry.get("domains")
            if not isinstance(domains, list) or not all(isinstance(d, str) for d in domains):
                raise SystemExit(f"{medium}/{name}: domains must be a list of strings")


def hosts(data: dict) -> set[str]:
    return {d.lower() for sources in data.values() for entry in sources.values() for d in entry["domains"]}


def main(argv: list[str]) -> None:
    source = argv[1] if len(argv) > 1 else DEFAULT
    data = load(source)
    validate(data)
    old = json.loads(TARGET.read_text("utf-8")) if TARGET.exists() else {}
    TARGET.write_text(json.dumps(data, ensure_ascii=True), "utf-8")
    before, after = hosts(old) if old else set(), hosts(data)
    print(f"wrote {TARGET}: {len(after)} hosts (+{len(after - before)} / -{len(before - after)})")


if __name__ == "__main__":
    main(sys.argv)
