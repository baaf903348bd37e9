"""The content of the visit form as the campaign's rulebook sets it (visitplan/rulebook.py): the
入户必问 questions (``Rules.question_list()``: each a code, its words and the service domains it
covers — issues/domains.py) and the 三了解 / 四掌握 / 五到位 checklist (``Rules.checklist_groups()``),
and both as read back (``answered``, ``ticked``: the visit page and the admin).

Nothing here holds content of its own: every reader passes the rules of the visit's campaign
(``rules_for(visit.campaign)``). The answers are stored keyed by question code —
``{code: {"answer": text, "needs_help": bool}}``, plus ``"domain"`` for a question of several
domains ticked 需要帮助 (the one the cadre filed it under). The product default has one question per
domain with the domain's code, so the answers stored before the rulebook read as they did.

A question ticked 需要帮助 is filed as an issue (visits/forms.py ``visit_issues``) under its domain —
the one chosen for a question of several, "other" (其他) for an open question without one.
"""

from __future__ import annotations

from dataclasses import dataclass

from issues.domains import DOMAIN_LABELS

OPEN_CATEGORY = "other"  # issues.models.Category.OTHER: an open question's 需要帮助
OPEN_HEADING = "其他"


@dataclass(frozen=True)
class Question:
    number: int  # 1, 2, … in the order of the sheet
    code: str
    text: str
    domains: tuple[str, ...]  # the ledger's domains it covers (unknown codes dropped)
    heading: str  # its domains' names, or 其他 for an open question
    label: str  # the heading, numbered where two questions share it (the error summary, the 需要帮助 box)

    @property
    def category(self) -> str:
        """The category a 需要帮助 is filed under unless the cadre chose another of its domains."""
        return self.domains[0] if self.domains else OPEN_CATEGORY

    def category_for(self, chosen: str | None) -> str:
        return chosen if chosen in self.domains else self.category


def questions(rules) -> list[Question]:
    """入户必问 of a campaign's ``rules``, in the order of its sheet."""
    raw = rules.question_list()
    items = []
    for number, q in enumerate(raw, start=1):
        domains = tuple(d for d in (q.get("domains") or ()) if d in DOMAIN_LABELS)
        heading = "、".join(DOMAIN_LABELS[d] for d in domains) or OPEN_HEADING
        items.append((number, str(q["code"]), str(q.get("text") or ""), domains, heading))
    headings = [item[4] for item in items]
    return [
        Question(number, code, text, domains, heading,
                 heading if headings.count(heading) == 1 else f"第{number}题（{heading}）")
        for number, code, text, domains, heading in items
    ]  # fmt: skip


def checklist_codes(rules) -> list[str]:
    """The checklist's codes in the order of the form (what a visit may store)."""
    return [code for _group, items in rules.checklist_groups() for code, _label in items]


def checklist_labels(rules) -> dict[str, str]:
    return {code: label for _group, items in rules.checklist_groups() for code, label in items}


def answered(answers, rules) -> list[tuple[str, str, str, bool]]:
    """入户必问 as read: (heading, question, answer, needs help) for each question answered, in the
    order of the campaign's sheet; an answer to a question no longer on it is not shown."""
    rows = []
    for q in questions(rules):
        value = (answers or {}).get(q.code)
        if not isinstance(value, dict):
            continue
        text = str(value.get("answer") or "").strip()
        needs_help = bool(value.get("needs_help"))
        if text or needs_help:
            heading = q.heading
            if needs_help and len(q.domains) > 1 and value.get("domain") in q.domains:
                heading = f"{heading}（诉求登记为{DOMAIN_LABELS[value['domain']]}）"
            rows.append((heading, q.text, text, needs_help))
    return rows


def ticked(checklist, rules) -> list[tuple[str, list[str]]]:
    """三了解 · 四掌握 · 五到位 as read: (group, the labels ticked) for each group with one ticked."""
    chosen = set(checklist or ())
    groups = [(group, [label for code, label in items if code in chosen]) for group, items in rules.checklist_groups()]
    return [(group, labels) for group, labels in groups if labels]


def checklist_rows(checklist, rules) -> list[tuple[str, list[tuple[str, bool]]]]:
    """Every group with each item and whether it was ticked (the visit page shows the unticked too)."""
    chosen = set(checklist or ())
    return [(group, [(label, code in chosen) for code, label in items]) for group, items in rules.checklist_groups()]
