"""Who may do what: the one table of roles and their capabilities."""

from enum import StrEnum

from webapp.lifecycle.statuses import UserRole


class Can(StrEnum):
    VIEW = "view"
    TRANSITION = "transition services"
    ACKNOWLEDGE = "acknowledge alerts"
    OPERATE = "operate the pipeline"
    MANAGE_USERS = "manage users"


ROLE_CAPABILITIES: dict[UserRole, frozenset[Can]] = {
    UserRole.ADMIN: frozenset(Can),
    UserRole.ACCOUNT_MANAGER: frozenset({Can.VIEW, Can.TRANSITION}),
    UserRole.TECHNICIAN: frozenset({Can.VIEW, Can.ACKNOWLEDGE}),
    UserRole.VIEWER: frozenset({Can.VIEW}),
}

ROLE_LABELS = {
    UserRole.ADMIN: "Admin",
    UserRole.ACCOUNT_MANAGER: "Account manager",
    UserRole.TECHNICIAN: "Technician",
    UserRole.VIEWER: "Viewer",
}


def allows(role: UserRole, capability: Can) -> bool:
    return capability in ROLE_CAPABILITIES[UserRole(role)]
