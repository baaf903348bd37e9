"""Searching the register: one rule for the admin and the pages."""

from django.db.models import Q

from .validators import normalize_id_number, normalize_phone


def search_households(queryset, term):
    """Name by its beginning, room exactly; ID numbers and phones only in full.

    Prefix and exact matches use the indexes at 100,000 households (a contains-search scans the
    table), and full-number-only matching means the search cannot be used to probe for ID numbers.
    """
    term = (term or "").strip()
    if not term:
        return queryset
    q = Q(head_name__startswith=term) | Q(room=term)
    if len(term) == 18:
        q |= Q(id_number=normalize_id_number(term))
    phone = normalize_phone(term)
    if phone.replace("-", "").isdigit() and len(phone) >= 7:
        q |= Q(phone=phone)
    return queryset.filter(q)
