"""Data-access facade of the metadata store: every async function the CLI and the web app use, in one import."""

from trail.store.meta.accounts import (
    add_member,
    authenticate,
    create_user,
    get_or_create_personal_team,
    get_user_by_email,
    hash_password,
    managed_team_ids,
    require_user,
    resolve_team,
    set_password,
    sites_visible_to_user,
    user_role_for_site,
    user_role_in_team,
    verify_password,
)
from trail.store.meta.errors import Conflict, Forbidden, MetaError, NotFound
from trail.store.meta.keys import (
    create_api_key,
    create_wall,
    lookup_api_key,
    lookup_wall,
    revoke_api_key,
    revoke_wall,
    wall_sites,
)
from trail.store.meta.outbox import (
    access_events_after,
    delete_access_events_before,
    latest_access_event_id,
    record_access_event,
)
from trail.store.meta.salts import delete_salts_before, get_or_create_salt, get_salt
from trail.store.meta.sites import (
    add_goal,
    add_site,
    delete_site,
    get_site_by_domain,
    get_site_by_share_token_hash,
    goals_of_site,
    require_site,
)

__all__ = [
    "Conflict", "Forbidden", "MetaError", "NotFound",
    "access_events_after", "add_goal", "add_member", "add_site", "authenticate", "create_api_key", "create_user",
    "create_wall", "delete_access_events_before", "delete_salts_before", "delete_site",
    "get_or_create_personal_team", "get_or_create_salt", "get_salt", "get_site_by_domain",
    "get_site_by_share_token_hash", "get_user_by_email", "goals_of_site", "hash_password",
    "latest_access_event_id", "lookup_api_key", "lookup_wall", "managed_team_ids", "record_access_event",
    "require_site", "require_user", "resolve_team", "revoke_api_key", "revoke_wall", "set_password",
    "sites_visible_to_user", "user_role_for_site", "user_role_in_team", "verify_password", "wall_sites",
]

# Accounts, teams, sites and keys as managed from the web app (appended; see each module).
from trail.store.meta.invitations import (  # noqa: E402
    accept_invitation,
    create_invitation,
    find_invitation,
    pending_invitations,
    revoke_invitation,
)
from trail.store.meta.shares import create_share_token, revoke_share_token, site_by_share_token  # noqa: E402
from trail.store.meta.site_admin import (  # noqa: E402
    add_site_to_team,
    delete_goal,
    purge_site,
    sites_of_team,
    transfer_site,
    update_exclusions,
    update_site_general,
)
from trail.store.meta.team_keys import (  # noqa: E402
    create_team_api_key,
    create_team_wall,
    revoke_team_api_key,
    revoke_team_wall,
    team_api_keys,
    team_walls,
)
from trail.store.meta.teams import (  # noqa: E402
    bump_session_epoch,
    count_users,
    create_team,
    delete_account,
    members_of_team,
    remove_member,
    rename_team,
    set_member_role,
    team_for_member,
    teams_of_user,
)

__all__ += [
    "accept_invitation", "add_site_to_team", "bump_session_epoch", "count_users", "create_invitation",
    "create_share_token",
    "create_team", "create_team_api_key", "create_team_wall", "delete_account", "delete_goal", "find_invitation",
    "members_of_team", "pending_invitations", "purge_site", "remove_member", "rename_team", "revoke_invitation",
    "revoke_share_token", "revoke_team_api_key", "revoke_team_wall", "set_member_role", "site_by_share_token",
    "sites_of_team", "team_api_keys", "team_for_member", "team_walls", "teams_of_user", "transfer_site",
    "update_exclusions", "update_site_general",
]
