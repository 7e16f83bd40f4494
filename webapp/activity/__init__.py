"""The audit trail: who did what to which service, newest first."""
