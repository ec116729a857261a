"""docker-compose.yml and Dockerfile stay correct without a Docker engine: parse and check them."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from trail.config import SETTINGS

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_and_images_are_pinned() -> None:
    services = compose()["services"]
    assert {"clickhouse", "mysql", "redis", "app", "writer"} <= set(services)
    assert services["mysql"]["image"] == "mariadb:10.11"
    ch_major = re.fullmatch(r"clickhouse/clickhouse-server:(\d+)\.\d+", services["clickhouse"]["image"])
    assert ch_major, "pin ClickHouse to a MAJOR.MINOR LTS tag"
    pins = (ROOT / "requirements.txt").read_text().splitlines()
    assert "chdb==4.4.0" in pins  # chdb 4.4 embeds ClickHouse 26.9: the same major as the server image
    assert ch_major.group(1) == "26"
    assert services["redis"]["image"].startswith("redis:7")
    assert "--appendonly" in services["redis"]["command"] and "yes" in services["redis"]["command"]


def test_every_service_has_a_healthcheck_and_volumes_are_named() -> None:
    doc = compose()
    for name, service in doc["services"].items():
        assert "healthcheck" in service, f"{name} has no healthcheck"
    for name in ("clickhouse", "mysql", "redis"):
        volume = doc["services"][name]["volumes"][0].split(":")[0]
        assert volume in doc["volumes"], f"{name} should use a named volume"


def test_app_env_names_are_real_settings_and_urls_point_at_services() -> None:
    known = {s.name for s in SETTINGS}
    services = compose()["services"]
    for name in ("app", "writer"):
        env = services[name]["environment"]
        assert set(env) <= known, f"{name} sets unknown settings: {set(env) - known}"
        assert env["TRAIL_DATABASE_URL"].startswith("mysql+aiomysql://") and "@mysql:3306/" in env["TRAIL_DATABASE_URL"]
        ch_url = env["TRAIL_CLICKHOUSE_URL"]
        assert ch_url.startswith("clickhouse://") and "@clickhouse:9000/" in ch_url
        assert env["TRAIL_REDIS_URL"] == "redis://redis:6379/0"
        assert set(services[name]["depends_on"]) == {"clickhouse", "mysql", "redis"}
    assert services["app"]["ports"] == ["8000:8000"]
    assert services["app"]["command"][:3] == ["serve", "--role", "all"]
    assert services["writer"]["command"][:3] == ["serve", "--role", "writer"]


def test_dockerfile_copies_what_the_app_reads() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for folder in ("trail", "templates", "static", "sql"):
        assert f"COPY {folder} ./{folder}" in dockerfile
    assert "requirements.txt" in dockerfile and "USER trail" in dockerfile
