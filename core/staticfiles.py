"""The static files storage: WhiteNoise's compressed, hashed files (docs/decisions/0013-light-pages.md),
forgiving when ``collectstatic`` has not run yet."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """Hashed names from the manifest ``collectstatic`` writes; a file the manifest does not know
    (collectstatic not run after an upgrade) is linked by its plain name instead of failing every
    page with a server error. The plain file is then served only where something serves the
    source folders; a deployment runs collectstatic (the Makefile's ``run`` does)."""

    manifest_strict = False

    def stored_name(self, name):
        try:
            return super().stored_name(name)
        except ValueError:  # not in the manifest and not in STATIC_ROOT
            return name
