"""Recurring billing follows the service: records, adjustments, the revenue ledger, MRR."""
