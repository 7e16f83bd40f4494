"""Clients (the MSP's customers) and their contacts: pages, forms, queries and actions."""
