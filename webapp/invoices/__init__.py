"""Invoices: the bill run turns recurring billing into invoices and credit notes (DESIGN.md,
"Invoicing"), their numbers, PDF, pages and accounting exports."""
