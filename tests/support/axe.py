"""axe-core (vendored: tests/support/vendor/axe-core, from the npm registry) run inside a Playwright page.

``audit(page)`` injects axe once per document and returns its violations as ``Finding`` rows
(rule, impact, how many nodes, the first targets). The rule set is WCAG 2.0/2.1 A and AA, which
is what GB/T 37668-2019 (信息无障碍) follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

AXE_JS = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = ("critical", "serious")


@dataclass(frozen=True)
class Finding:
    rule: str
    impact: str
    nodes: int
    targets: tuple
    help: str

    def line(self) -> str:
        return f"{self.impact:8} {self.rule}: {self.help} ×{self.nodes} {', '.join(self.targets[:3])}"


def audit(page) -> list[Finding]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Through the DevTools protocol, which the page's Content-Security-Policy does not govern
        # (a <script> tag would be refused: script-src 'self').
        page.evaluate(AXE_JS.read_text(encoding="utf-8") + "\n;true")
    result = page.evaluate(
        """async (tags) => {
            const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
            return r.violations.map(v => ({rule: v.id, impact: v.impact || 'minor', help: v.help,
                nodes: v.nodes.length, targets: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
        }""",
        TAGS,
    )
    return [
        Finding(rule=v["rule"], impact=v["impact"], nodes=v["nodes"], targets=tuple(v["targets"]), help=v["help"])
        for v in result
    ]


def blocking(findings) -> list[Finding]:
    return [f for f in findings if f.impact in BLOCKING]
