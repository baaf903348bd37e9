"""The permissions of core's models per role (collected by households.roles.role_permissions).

core sits below the app that names the roles (households/roles.py) and may not import it, so the
role is written here by its group name; households/tests/test_roles.py checks that it is one of
``ALL_ROLES``.
"""

STREET_ADMIN = "街道管理员"  # households.roles.STREET_ADMIN

# The backup records (core/backups.py): read in the admin by the street admins; written by the job only.
PERMISSIONS = {STREET_ADMIN: ["core.view_backup"]}
