"""Cross-cutting machinery shared by every app: the client address, the admin's safety rails,
optimistic locking, the xlsx upload guard and sandboxed parsing of uploads, formula-safe
spreadsheet writing, background jobs, the clock of the scheduled jobs, deny-by-default URL
access, the Content-Security-Policy and lockout page, session timeouts, the one-beat lock.
It imports no app of ours."""
