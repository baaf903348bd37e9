"""Cross-cutting machinery shared by every app: the client address, the admin's safety rails,
optimistic locking, sandboxed parsing of uploads, background jobs. It imports no app of ours."""
