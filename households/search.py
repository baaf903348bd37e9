"""Searching the register: one rule for the admin and the pages.

Name by its beginning, room exactly; ID numbers and phones only in full, and only for a role with
查看完整信息. A masked ID number leaves only the birth date unknown, so a full-number search would
let anyone who sees masked values find the full one in a few tries: for the other roles such a
term matches nothing by number, and each full-number search of a role that may is logged.
"""

from django.db.models import Q

from .masking import can_view_full_pii, mask_id_number, mask_phone
from .validators import normalize_id_number, normalize_phone


def identifier_terms(term) -> tuple[str | None, str | None]:
    """The term as a full ID number and as a full phone number (None where it is not one)."""
    term = (term or "").strip()
    id_number = normalize_id_number(term) if len(term) == 18 else None
    phone = normalize_phone(term)
    phone = phone if phone.replace("-", "").isdigit() and len(phone) >= 7 else None
    return id_number, phone


def search_households(queryset, term, request=None):
    """``queryset`` narrowed to ``term``; by full ID number or phone only for ``request.user`` with
    查看完整信息, and then logged (``request`` None: no number search at all)."""
    term = (term or "").strip()
    if not term:
        return queryset
    q = Q(head_name__startswith=term) | Q(room=term)
    id_number, phone = identifier_terms(term)
    if (id_number or phone) and request is not None and can_view_full_pii(request.user):
        by_number = Q()
        if id_number:
            by_number |= Q(id_number=id_number)
        if phone:
            by_number |= Q(phone=phone)
        log_identifier_search(request, id_number=id_number, phone=phone, matches=queryset.filter(by_number).count())
        q |= by_number
    return queryset.filter(q)


def log_identifier_search(request, *, id_number, phone, matches):
    """One access-log row for a search by a full ID number or phone (the number masked in the log)."""
    from .access_log import access_log_record
    from .models import AccessKind

    shown = mask_id_number(id_number) if id_number else mask_phone(phone)
    access_log_record(
        request, kind=AccessKind.SEARCH, what=f"按身份证号/电话查询：{shown}", rows=matches, residents=matches
    )
