"""Import from CSV: clients, contacts, services and assets, dry run first, then all or nothing."""
