"""Import from CSV: clients, contacts and services, dry run first, then all or nothing."""
