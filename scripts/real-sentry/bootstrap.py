"""Create the test user, organization, team and API tokens; write the exports file.

Run inside Sentry: `sentry exec bootstrap.py`. Idempotent: a re-run reuses what exists.
Input (environment): E2E_EMAIL, E2E_PASSWORD, E2E_ORG, E2E_TEAM, E2E_URL, E2E_EXPORTS,
optional E2E_TOKEN / E2E_RO_TOKEN (64 hex chars) to fix the token values.
"""

from __future__ import annotations

import os

from sentry.models import (
    ApiToken,
    Organization,
    OrganizationMember,
    OrganizationMemberTeam,
    Team,
    User,
)

# Enough to create and delete a project per test and to drive the whole release flow.
FULL_SCOPES = [
    "org:read", "org:write",
    "team:read", "team:write",
    "project:read", "project:write", "project:admin", "project:releases",
]
READ_ONLY_SCOPES = ["org:read"]

env = os.environ


def ensure_user() -> User:
    user = User.objects.filter(email=env["E2E_EMAIL"]).first()
    if user is None:
        user = User(email=env["E2E_EMAIL"], username=env["E2E_EMAIL"],
                    is_superuser=True, is_staff=True, is_active=True)
        user.set_password(env["E2E_PASSWORD"])
        user.save()
    return user


def ensure_token(user: User, value: str, scopes: list) -> ApiToken:
    if value:
        token = ApiToken.objects.filter(token=value).first()
        if token is None:
            return ApiToken.objects.create(user=user, token=value, scope_list=scopes, expires_at=None)
        token.update(scope_list=scopes, expires_at=None)
        return token
    for token in ApiToken.objects.filter(user=user, application=None, expires_at=None):
        if sorted(token.get_scopes()) == sorted(scopes):
            return token
    return ApiToken.objects.create(user=user, scope_list=scopes, expires_at=None)


def main() -> None:
    user = ensure_user()
    org, _ = Organization.objects.get_or_create(slug=env["E2E_ORG"], defaults={"name": env["E2E_ORG"]})
    member, _ = OrganizationMember.objects.get_or_create(
        organization=org, user_id=user.id, defaults={"role": "owner"})
    team, _ = Team.objects.get_or_create(
        organization=org, slug=env["E2E_TEAM"], defaults={"name": env["E2E_TEAM"]})
    OrganizationMemberTeam.objects.get_or_create(team=team, organizationmember=member)
    token = ensure_token(user, env.get("E2E_TOKEN", ""), FULL_SCOPES)
    read_only = ensure_token(user, env.get("E2E_RO_TOKEN", ""), READ_ONLY_SCOPES)
    exports = {
        "SENTRY_E2E_URL": env["E2E_URL"],
        "SENTRY_E2E_TOKEN": token.token,
        "SENTRY_E2E_RO_TOKEN": read_only.token,
        "SENTRY_E2E_ORG": org.slug,
        "SENTRY_E2E_TEAM": team.slug,
    }
    path = env["E2E_EXPORTS"]
    with open(path + ".tmp", "w") as f:
        f.writelines("export %s=%s\n" % item for item in exports.items())
    os.chmod(path + ".tmp", 0o600)
    os.replace(path + ".tmp", path)


main()
