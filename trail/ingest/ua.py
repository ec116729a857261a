"""User agent -> browser, OS (with versions) and device class; screen width -> screen class (Plausible's cut-offs)."""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from ua_parser import Parser

_parser: Parser | None = None


def _ua_parser() -> Parser:
    """ua-parser with the fastest installed backend: ua-parser-rs (Rust regex) > google-re2 > pure Python."""
    global _parser
    if _parser is None:
        from ua_parser.loaders import load_builtins

        try:
            from ua_parser.regex import Resolver  # ua-parser-rs

            _parser = Parser(Resolver(load_builtins()))
        except ImportError:  # pragma: no cover - depends on the installed extras
            try:
                from ua_parser.re2 import Resolver as Re2Resolver

                _parser = Parser(Re2Resolver(load_builtins()))
            except ImportError:
                from ua_parser.basic import Resolver as BasicResolver
                from ua_parser.loaders import load_lazy_builtins

                _parser = Parser(BasicResolver(load_lazy_builtins()))
    return _parser


class Agent(NamedTuple):
    browser: str
    browser_version: str
    os: str
    os_version: str
    device: str  # "Desktop", "Mobile", "Tablet" ("" never: unknown agents count as Desktop)


BROWSERS = {
    "Mobile Safari": "Safari", "Mobile Safari UI/WKWebView": "Safari", "Safari UI/WKWebView": "Safari",
    "Chrome Mobile": "Chrome", "Chrome Mobile iOS": "Chrome", "Chrome Mobile WebView": "Chrome WebView",
    "HeadlessChrome": "Chrome", "Chromium": "Chromium",
    "Firefox Mobile": "Firefox", "Firefox iOS": "Firefox", "Firefox Focus": "Firefox",
    "Edge": "Microsoft Edge", "Edge Mobile": "Microsoft Edge",
    "Opera Mobile": "Opera", "Opera Mini": "Opera Mini", "Samsung Internet": "Samsung Internet",
    "IE": "Internet Explorer", "IE Mobile": "Internet Explorer", "UC Browser": "UC Browser",
    "Yandex Browser": "Yandex Browser", "Facebook": "Facebook", "Instagram": "Instagram",
}
OPERATING_SYSTEMS = {
    "Mac OS X": "Mac", "macOS": "Mac", "Ubuntu": "GNU/Linux", "Linux": "GNU/Linux", "Fedora": "GNU/Linux",
    "Debian": "GNU/Linux", "Arch Linux": "GNU/Linux", "Linux Mint": "GNU/Linux", "openSUSE": "GNU/Linux",
    "Red Hat": "GNU/Linux", "CentOS": "GNU/Linux", "Chrome OS": "Chrome OS", "Windows": "Windows",
    "iOS": "iOS", "iPadOS": "iPadOS", "Android": "Android",
}
TABLET_FAMILIES = ("ipad", "kindle", "tablet", "tab ", "nexus 7", "nexus 9", "nexus 10", "playbook", "silk")


@lru_cache(maxsize=20_000)
def parse_agent(user_agent: str) -> Agent:
    """Browser and OS family and version, and device class, from the UA alone (cached per UA string)."""
    try:
        result = _ua_parser().parse(user_agent)
    except Exception:  # never let a pathological UA become a 500
        return Agent("", "", "", "", "Desktop")
    ua, os_, dev = result.user_agent, result.os, result.device
    browser = ""
    version = ""
    if ua is not None and ua.family != "Other":
        browser = BROWSERS.get(ua.family, ua.family)
        version = ua.major or ""
    os_name = ""
    os_version = ""
    if os_ is not None and os_.family != "Other":
        os_name = OPERATING_SYSTEMS.get(os_.family, os_.family)
        if os_.family.startswith("Windows") and os_name == os_.family and os_.family != "Windows":
            os_name, os_version = "Windows", os_.family.removeprefix("Windows").strip()
        elif os_.major:
            os_version = os_.major if not os_.minor else f"{os_.major}.{os_.minor}"
        if os_name == "GNU/Linux":
            os_version = ""
    family = (dev.family if dev is not None else "").lower()
    low = user_agent.lower()
    if any(t in family for t in TABLET_FAMILIES) or "ipad" in low or "tablet" in low:
        device = "Tablet"
    elif os_name == "Android" and "mobile" not in low:
        device = "Tablet"  # Android tablets drop "Mobile" from the UA
    elif family in ("iphone", "ipod") or "mobi" in low or "iphone" in low or os_name in ("iOS", "Android"):
        device = "Mobile"
    else:
        device = "Desktop"
    return Agent(browser, version, os_name, os_version, device)


def screen_class(width: int | None) -> str:
    """Plausible's screen size classes: <576 Mobile, <992 Tablet, <1440 Laptop, else Desktop; "" when unknown."""
    if not width:
        return ""
    if width < 576:
        return "Mobile"
    if width < 992:
        return "Tablet"
    if width < 1440:
        return "Laptop"
    return "Desktop"


def device_class(agent: Agent, width: int | None) -> str:
    """The UA's class, except that a 'desktop' UA on a phone-sized screen (desktop mode on a phone) is Mobile."""
    if agent.device == "Desktop" and width and width < 576:
        return "Mobile"
    return agent.device
