"""The 一户一策 pages: the households in special hardship, and the plan of each.

The rules (who is on the list, the state of a plan, saving one) are households.hardship's; the
Excel ledger of the same households is reports.ledgers'.
"""
