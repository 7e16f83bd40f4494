"""Incidents: recorded by technicians, the API and Alertmanager; acknowledged, resolved."""
