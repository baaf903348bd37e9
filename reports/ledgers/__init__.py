"""The official ledgers (台账): ``excel`` writes them as Excel files (入户走访台账, 特殊困难群体台账,
月度大走访活动入户表, 督查扣分表), and the ledgers page offers them for download (``views``,
``urls``, ``forms``: its filters).

Code outside the package imports from here.
"""

from .excel import (
    HARDSHIP_SHEET,
    VISIT_SHEET,
    hardship_households,
    hardship_ledger_response,
    monthly_report_response,
    supervision_communities,
    supervision_response,
    visit_ledger_response,
)

__all__ = [
    "HARDSHIP_SHEET",
    "VISIT_SHEET",
    "hardship_households",
    "hardship_ledger_response",
    "monthly_report_response",
    "supervision_communities",
    "supervision_response",
    "visit_ledger_response",
]
