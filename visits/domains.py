"""The nine public-service domains of the 入户必问 questionnaire (DESIGN.md, "A visit")."""

# (code, label): one question per domain; issues raised in a visit are filed under these too.
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
