"""Enumerations stored directly in columns (str Enums, so the database holds readable words)."""

from enum import StrEnum


class ServiceStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


# Services that are running: billed or paused, under their SLA, due for renewal and health.
RUNNING = (ServiceStatus.ACTIVE, ServiceStatus.SUSPENDED)


class BillingCycle(StrEnum):
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    SEMI_ANNUAL = "semi_annual"
    ANNUAL = "annual"
    ONE_TIME = "one_time"


class ServiceLevel(StrEnum):
    BASIC = "basic"
    STANDARD = "standard"
    PREMIUM = "premium"
    ENTERPRISE = "enterprise"


class BillingStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    STOPPED = "stopped"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    RETRYING = "retrying"
    DONE = "done"
    FAILED = "failed"


# Deliveries a job still has to run.
UNFINISHED = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)


class UserRole(StrEnum):
    ADMIN = "admin"
    ACCOUNT_MANAGER = "account_manager"
    TECHNICIAN = "technician"
    VIEWER = "viewer"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
