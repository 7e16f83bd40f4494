"""Assets: the devices, tenants and mailboxes a client's services cover, the identifiers
monitoring tools know them by, and the alerts that named a host nobody knew yet."""
