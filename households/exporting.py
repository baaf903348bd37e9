"""Register exports from pages and the admin: scoped again, written in the template layout, logged.

Every register export is a job (households.export_jobs): a small one is written within the request
and handed over at once; a large one in the background, the user sent to its page (the progress,
then the download link; reports' 我的导出).
"""

from django.shortcuts import redirect

from .export_jobs import export_file_response, start_register_export


def register_export_response(request, queryset, *, what):
    """The register of ``queryset`` as xlsx (the user's scope is applied again), or the page of
    its background job."""
    job = start_register_export(request.user, queryset, what=what)
    response = export_file_response(request, job) if job.finished else None
    if response is not None:
        return response
    return redirect("reports:export_job", pk=job.pk)
