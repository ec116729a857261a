"""The account, team and site-management blueprints, in registration order (one import for app._register)."""

from __future__ import annotations

from quart import Blueprint


def blueprints() -> list[Blueprint]:
    from trail.web.auth import auth
    from trail.web.keys import keys
    from trail.web.share import share
    from trail.web.site_settings import site_settings
    from trail.web.sites import sites
    from trail.web.team import team

    return [auth, sites, team, site_settings, keys, share]
