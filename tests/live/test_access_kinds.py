"""Which open sockets each kind of access change closes (the matcher every instance applies)."""

from __future__ import annotations

from trail.live.hub import Client
from trail.live.ticker import client_matcher


def clients() -> dict[str, Client]:
    return {
        "alice_dash": Client("dashboard", ((1, "dashboard"),), {"user_id": 7, "team_id": 3}),
        "bob_dash": Client("dashboard", ((1, "dashboard"),), {"user_id": 8, "team_id": 3}),
        "api": Client("json", ((1, "json"),), {"key_id": 5, "key_hash": "h5", "team_id": 3}),
        "wall": Client("wall", ((1, "wall"), (2, "wall")), {"wall_id": 9, "token_hash": "w9"}),
    }


def closed_by(kind: str, subject: dict[str, object]) -> set[str]:
    match = client_matcher(kind, subject)
    return set() if match is None else {name for name, c in clients().items() if match(c)}


def test_each_kind_closes_only_its_sockets() -> None:
    assert closed_by("sessions_revoked", {"user_id": 7}) == {"alice_dash"}
    assert closed_by("member_removed", {"user_id": 8, "team_id": 3}) == {"bob_dash"}
    assert closed_by("member_removed", {"user_id": 8, "team_id": 4}) == set()
    assert closed_by("key_revoked", {"key_id": 5, "key_hash": "h5"}) == {"api"}
    assert closed_by("wall_revoked", {"wall_id": 9}) == {"wall"}
    assert closed_by("site_deleted", {"site_id": 2}) == {"wall"}
    assert closed_by("site_deleted", {"site_id": 1}) == {"alice_dash", "bob_dash", "api", "wall"}
    assert closed_by("site_added", {"site_id": 1}) == set()


async def test_password_change_and_sign_out_record_sessions_revoked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from trail.store.meta import repo
    from trail.store.meta.db import MetaStore
    from trail.store.meta.migrate import migrate_meta

    url = f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}"
    await migrate_meta(url)
    async with MetaStore(url) as meta:
        async with meta.session() as db:
            user = await repo.create_user(db, "a@example.com", "a long password")
            await repo.set_password(db, user, "another long password")
            await repo.bump_session_epoch(db, user)
            await db.commit()
            events = await repo.access_events_after(db, 0)
    assert [(e.kind, e.subject) for e in events] == [("sessions_revoked", {"user_id": user.id})] * 2
