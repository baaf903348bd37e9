"""The field app's two addresses at the site's root (a service worker controls only the pages under
its own address): ``/sw.js`` and ``/manifest.webmanifest`` (visits/offline.py)."""

from django.urls import path

from . import offline

urlpatterns = [
    path("sw.js", offline.service_worker, name="service_worker"),
    path("manifest.webmanifest", offline.manifest, name="web_manifest"),
]
