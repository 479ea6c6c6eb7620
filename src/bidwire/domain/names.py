"""Names people bid under: what a guest may call themselves, and when two names are one.

Principles:
- A name shown beside a bid must point at one bidder. Two names that a person reading the feed
  could take for each other (case, full-width letters, a Cyrillic ``а`` for a Latin ``a``, ``0``
  for ``o``) are the same name here: they share a :func:`skeleton`.
- The skeleton is Unicode NFKC, then case folding, then each look-alike of an ASCII letter or
  digit replaced by it (UTS #39's confusables, ``confusables.py``), then ``0``/``1`` folded into
  ``o``/``l``. It is for comparing only; the name is shown as its owner typed it.
"""

from __future__ import annotations

import re
import unicodedata

from bidwire.domain.confusables import LOOKS_LIKE

GUEST_NAME = re.compile(r"^[\w][\w .\-]{0,31}$")
"""What a guest may call themselves: 1 to 32 letters, digits, spaces, dots, dashes, underscores."""
GUEST_NAME_RULE = "a name is 1 to 32 letters, digits, spaces, dots, dashes or underscores"
ASCII_LOOK_ALIKES = str.maketrans({"0": "o", "1": "l"})


def skeleton(name: str) -> str:
    """The form two names share when a reader could take one for the other."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    mapped = "".join(LOOKS_LIKE.get(c, c) for c in folded)
    return unicodedata.normalize("NFKC", mapped).translate(ASCII_LOOK_ALIKES).strip()


def guest_name(wanted: str) -> str:
    """The name as a guest may hold it (stripped), or ValueError saying the rule."""
    name = wanted.strip()
    if not GUEST_NAME.match(name):
        raise ValueError(GUEST_NAME_RULE)
    return name


def suffixed(wanted: str, n: int) -> str:
    """The ``n``-th alternative to a taken name, within the length rule: ``bob-2``."""
    return f"{wanted[:26]}-{n}"
