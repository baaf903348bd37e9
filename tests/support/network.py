"""A weak 3G link in Chromium (DevTools network emulation) and what crosses it.

``Wire(page)`` turns on the emulation for the page (400 ms latency, 400 kbit/s down, 200 kbit/s up:
the stairwell signal grid workers work with) and counts the bytes and requests that
came from the network (cached answers are not counted). ``timing(page)`` reads the navigation's
DOMContentLoaded and load times and the first contentful paint, in ms from the start.

Used by tests/test_page_weight.py (the budgets) and bench/bench_pages.py (the figures).
"""

from __future__ import annotations

LATENCY_MS = 400
DOWN_BYTES_PER_S = 400_000 / 8
UP_BYTES_PER_S = 200_000 / 8


class Wire:
    def __init__(self, page):
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("Network.enable")
        self.cdp.send(
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": LATENCY_MS,
                "downloadThroughput": DOWN_BYTES_PER_S,
                "uploadThroughput": UP_BYTES_PER_S,
            },
        )
        self.urls: list[str] = []
        self.reset()
        self._pending: dict[str, str] = {}
        self.cdp.on("Network.requestWillBeSent", self._sent)
        self.cdp.on("Network.loadingFinished", self._finished)

    def reset(self):
        self.bytes = 0
        self.requests = 0
        self.urls = []

    def clear_cache(self):
        self.cdp.send("Network.clearBrowserCache")

    def _sent(self, event):
        self._pending[event["requestId"]] = event["request"]["url"]

    def _finished(self, event):
        if event.get("encodedDataLength", 0) > 0:  # 0: answered from the memory or disk cache
            self.bytes += event["encodedDataLength"]
            self.requests += 1
            self.urls.append(self._pending.get(event["requestId"], "?"))


def timing(page) -> dict:
    return page.evaluate(
        """() => {
            const n = performance.getEntriesByType('navigation')[0];
            const fcp = performance.getEntriesByName('first-contentful-paint')[0];
            return {dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd, fcp: fcp ? fcp.startTime : null};
        }"""
    )
