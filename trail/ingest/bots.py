"""Bot detection: crawlerdetect's patterns plus explicit headless-browser markers; an empty UA is a bot."""

from __future__ import annotations

from functools import lru_cache

from crawlerdetect import CrawlerDetect

# Automation that crawlerdetect may miss or that poses as a normal browser.
HEADLESS_MARKERS: tuple[str, ...] = (
    "headlesschrome", "headless", "phantomjs", "slimerjs", "puppeteer", "playwright", "selenium", "webdriver",
    "cypress", "lighthouse", "gtmetrix", "pingdom", "uptimerobot",
    "prerender", "zombie.js", "jsdom", "htmlunit", "nightmare",
)
MAX_UA = 1024

_detector: CrawlerDetect | None = None


def _crawler_detect() -> CrawlerDetect:
    global _detector
    if _detector is None:
        _detector = CrawlerDetect()
    return _detector


@lru_cache(maxsize=50_000)
def is_bot(user_agent: str) -> bool:
    """True for crawlers, monitors, headless browsers and empty or absurd user agents (cached per UA string)."""
    ua = user_agent.strip()
    if len(ua) < 8 or len(ua) > MAX_UA:
        return True
    low = ua.lower()
    if any(marker in low for marker in HEADLESS_MARKERS):
        return True
    try:
        return bool(_crawler_detect().isCrawler(ua))
    except Exception:  # a pattern library must never turn an event into a 500
        return False
