"""The nine public-service domains (民生九有) an issue is filed under.

The ledger owns them: issues from the 12345 hotline are filed under them as well as those raised
in a visit, whose 入户必问 questionnaire asks one question per domain (visits/questionnaire.py).
"""

# (code, label), in the order of the campaign's question sheet.
SERVICE_DOMAINS = [
    ("childcare", "幼有善育"),
    ("education", "学有优教"),
    ("employment", "劳有厚得"),
    ("health", "病有良医"),
    ("elderly", "老有颐养"),
    ("living", "住有宜居"),
    ("welfare", "弱有众扶"),
    ("culture", "民有文乐"),
    ("safety", "安有保全"),
]
DOMAIN_LABELS = dict(SERVICE_DOMAINS)
