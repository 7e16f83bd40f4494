"""RQ job functions: plain module-level verbs that take ids, never objects or request state."""
