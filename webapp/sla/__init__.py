"""SLA policies and clocks, breaches and at-risk warnings, alerts and their escalation."""
