"""Who may do what: the one table of roles and their capabilities."""

from enum import StrEnum

from webapp.lifecycle.statuses import UserRole


class Can(StrEnum):
    VIEW = "view"
    TRANSITION = "transition services"
    MANAGE_CLIENTS = "manage clients"
    ACKNOWLEDGE = "acknowledge alerts"
    HANDLE_INCIDENTS = "handle incidents"
    EDIT_SLA = "change SLA policies"
    OPERATE = "operate the pipeline"
    MANAGE_USERS = "manage users"
    CONFIGURE = "change company settings"
    IMPORT = "import clients, contacts and services"
    SETTLE_INVOICES = "mark invoices paid or void them"
    # Add, edit and retire assets and their identifiers: technicians meet unknown hosts first.
    MANAGE_ASSETS = "manage assets"


ROLE_CAPABILITIES: dict[UserRole, frozenset[Can]] = {
    UserRole.ADMIN: frozenset(Can),
    UserRole.ACCOUNT_MANAGER: frozenset(
        {
            Can.VIEW,
            Can.TRANSITION,
            Can.EDIT_SLA,
            Can.MANAGE_CLIENTS,
            Can.SETTLE_INVOICES,
            Can.MANAGE_ASSETS,
        }
    ),
    UserRole.TECHNICIAN: frozenset(
        {Can.VIEW, Can.ACKNOWLEDGE, Can.HANDLE_INCIDENTS, Can.MANAGE_ASSETS}
    ),
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
