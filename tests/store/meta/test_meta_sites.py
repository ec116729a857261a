"""Tests of sites and goals on both backends: normalisation, validation, duplicates, outbox rows."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from trail.store.meta.models import AccessEvent, Goal, Site, User
from trail.store.meta.repo import (
    Conflict,
    NotFound,
    access_events_after,
    add_goal,
    add_site,
    get_site_by_domain,
    goals_of_site,
    require_site,
)
from trail.store.meta.validate import normalise_domain


@pytest.mark.parametrize("raw, domain", [
    ("Example.COM", "example.com"),
    ("https://www.example.com/some/path?q=1", "www.example.com"),
    ("http://shop.example.co.uk:8080", "shop.example.co.uk"),
    ("example.com.", "example.com"),
    ("bücher.de", "xn--bcher-kva.de"),
    ("127.0.0.1", "127.0.0.1"),
])
def test_normalise_domain(raw: str, domain: str) -> None:
    assert normalise_domain(raw) == domain


@pytest.mark.parametrize("raw, problem", [
    ("localhost", "must contain a dot"),
    ("exa mple.com", "not allowed in a hostname"),
    ("ex_ample.com", "not allowed in a hostname"),
    ("-bad.example.com", "invalid part"),
    ("a..b", "invalid part"),
    ("", "empty"),
])
def test_normalise_domain_rejects(raw: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        normalise_domain(raw)


async def test_add_site(session: AsyncSession, alice: User) -> None:
    site = await add_site(session, alice, "https://WWW.Example.com/", timezone="Europe/Berlin")
    await session.commit()
    assert (site.domain, site.timezone, site.respect_dnt, site.deleted_at) == ("www.example.com", "Europe/Berlin",
                                                                               False, None)
    assert site.exclude_ips == [] and site.exclude_paths == [] and site.exclude_hosts == []
    found = await get_site_by_domain(session, "www.EXAMPLE.com")
    assert found is not None and found.id == site.id
    assert await get_site_by_domain(session, "example.com") is None  # www. is kept, as Plausible does
    events = await access_events_after(session, 0)
    assert [(e.kind, e.subject["domain"]) for e in events] == [("site_added", "www.example.com")]


async def test_add_site_errors(session: AsyncSession, alice: User) -> None:
    await add_site(session, alice, "example.com")
    with pytest.raises(Conflict, match="already exists"):
        await add_site(session, alice, "EXAMPLE.com")
    with pytest.raises(ValueError, match="unknown timezone"):
        await add_site(session, alice, "other.example.com", timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="must contain a dot"):
        await add_site(session, alice, "intranet")
    with pytest.raises(NotFound):
        await require_site(session, "missing.example.com")


async def test_json_columns_round_trip(store, session: AsyncSession, alice: User) -> None:  # type: ignore[no-untyped-def]
    site = await add_site(session, alice, "json.example.com")
    site.exclude_ips = ["10.0.0.0/8", "2001:db8::/32"]
    site.exclude_paths = ["/admin/**"]
    site.exclude_hosts = ["staging.example.com"]
    site.respect_dnt = True
    await session.commit()
    async with store.session() as fresh:
        again = await fresh.scalar(sa.select(Site).where(Site.id == site.id))
        assert again.exclude_ips == ["10.0.0.0/8", "2001:db8::/32"] and again.respect_dnt is True
        assert again.exclude_paths == ["/admin/**"] and again.exclude_hosts == ["staging.example.com"]


async def test_add_goal(session: AsyncSession, alice: User) -> None:
    site = await add_site(session, alice, "goals.example.com")
    signup = await add_goal(session, site, event_name="Signup")
    purchase = await add_goal(session, site, event_name="Purchase", currency="eur")
    blog = await add_goal(session, site, page_path="/blog/**")
    await session.commit()
    assert (signup.display_name, signup.currency, signup.page_path) == ("Signup", None, None)
    assert purchase.currency == "EUR"
    assert (blog.display_name, blog.event_name) == ("Visit /blog/**", None)
    assert [g.id for g in await goals_of_site(session, site.id)] == [signup.id, purchase.id, blog.id]
    # event names are case-sensitive on both backends (binary collation on MariaDB)
    await add_goal(session, site, event_name="signup")
    kinds = [e.kind for e in await access_events_after(session, 0)]
    assert kinds == ["site_added", "site_changed", "site_changed", "site_changed", "site_changed"]


async def test_add_goal_errors(session: AsyncSession, alice: User) -> None:
    site = await add_site(session, alice, "goals.example.com")
    await add_goal(session, site, event_name="Signup")
    await add_goal(session, site, page_path="/pricing")
    with pytest.raises(Conflict):
        await add_goal(session, site, event_name="Signup")
    with pytest.raises(Conflict):
        await add_goal(session, site, page_path="/pricing")
    with pytest.raises(ValueError, match="exactly one"):
        await add_goal(session, site)
    with pytest.raises(ValueError, match="exactly one"):
        await add_goal(session, site, event_name="x", page_path="/x")
    with pytest.raises(ValueError, match="unknown currency"):
        await add_goal(session, site, event_name="Buy", currency="XYZ")
    with pytest.raises(ValueError, match="needs --event"):
        await add_goal(session, site, page_path="/buy", currency="EUR")
    with pytest.raises(ValueError, match="must start with '/'"):
        await add_goal(session, site, page_path="blog")
    with pytest.raises(ValueError, match="event name is empty"):
        await add_goal(session, site, event_name="  ")


async def test_goal_check_constraint_in_database(session: AsyncSession, alice: User) -> None:
    site = await add_site(session, alice, "check.example.com")
    await session.commit()
    session.add(Goal(site_id=site.id, event_name=None, page_path=None, display_name="neither"))
    with pytest.raises(DBAPIError):  # IntegrityError on SQLite, OperationalError 4025 on MariaDB
        await session.flush()
    await session.rollback()


async def test_outbox_rows_keep_microseconds(session: AsyncSession, alice: User) -> None:
    await add_site(session, alice, "a.example.com")
    await add_site(session, alice, "b.example.com")
    await session.commit()
    rows = list(await session.scalars(sa.select(AccessEvent).order_by(AccessEvent.id)))
    assert rows[0].created_at < rows[1].created_at and rows[0].created_at.tzinfo is None
