"""Notices by mail and webhook: who receives what, sending, retrying, the mailbox."""
