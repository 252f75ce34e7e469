"""Content negotiation: pick the media type an operation answers from the ``Accept`` header.

q-values are honoured (RFC 9110 §12.5.1): each offered type takes the q of the most specific
range that matches it; the highest q wins, ties go to the server's preference (its first
offer), and q=0 means "not acceptable".  A missing, empty or unparsable header accepts
anything.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["negotiate"]


def _parse(accept: str) -> list[tuple[str, str, float]]:
    ranges: list[tuple[str, str, float]] = []
    for item in accept.split(","):
        parts = [p.strip() for p in item.split(";")]
        media = parts[0].lower()
        if not media:
            continue
        if media == "*":
            media = "*/*"
        if "/" not in media:
            continue
        kind, _, sub = media.partition("/")
        q = 1.0
        for param in parts[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 1.0
                q = min(max(q, 0.0), 1.0)
        ranges.append((kind.strip(), sub.strip(), q))
    return ranges


def _quality(offer: str, ranges: list[tuple[str, str, float]]) -> float | None:
    kind, _, sub = offer.partition("/")
    best: tuple[int, float] | None = None
    for r_kind, r_sub, q in ranges:
        if r_kind == kind and r_sub == sub:
            specificity = 2
        elif r_kind == kind and r_sub == "*":
            specificity = 1
        elif r_kind == "*" and r_sub == "*":
            specificity = 0
        else:
            continue
        if best is None or specificity > best[0]:
            best = (specificity, q)
    return None if best is None else best[1]


def negotiate(accept: str | None, offers: Sequence[str]) -> str | None:
    """The offer to answer with, or None when the client accepts none of them."""
    if accept is None or not accept.strip():
        return offers[0]
    ranges = _parse(accept)
    if not ranges:
        return offers[0]
    chosen: str | None = None
    chosen_q = 0.0
    for offer in offers:
        q = _quality(offer, ranges)
        if q is not None and q > chosen_q:
            chosen, chosen_q = offer, q
    return chosen
