"""Each layer's structures rebuilt from the ledger's fills and settlements, to count the
report's exits by rule as the layers count them (README, "Exits by rule")."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any


class _Structure:
    """Signed contracts per symbol of one open structure (equal by identity, not content)."""

    __slots__ = ("legs",)

    def __init__(self) -> None:
        self.legs: dict[str, int] = {}


class Books:
    """Each layer's open structures, rebuilt from fills and settlements to count exits by rule.

    An ``entry`` fill (or any fill into a flat layer) opens a structure. Any other fill closes
    what it can of the oldest structures holding the other side of each leg; its remaining legs
    (a roll's new strikes, a hedge's additions) join the first structure it touched, else the
    layer's newest. A structure left with no contract exits under the fill's reason, or
    ``settlement``. So, as the layers count: a hedge is one structure from its first contract
    to its last (reduced but not to zero is no exit), and a spread exits once both legs settle.
    """

    def __init__(self) -> None:
        self.open: dict[str, list[_Structure]] = {}
        self.opened: Counter[str] = Counter()
        self.exits: dict[str, Counter[str]] = {}

    def fill(self, layer: str, reason: str, legs: Iterable[tuple[str, int]]) -> None:
        structures = self.open.setdefault(layer, [])
        touched: list[_Structure] = []
        if reason == "entry" or not structures:
            structures.append(_Structure())
            self.opened[layer] += 1
            touched.append(structures[-1])
        spare = []
        for symbol, qty in legs:
            rest = qty if reason == "entry" else self._reduce(structures, symbol, qty, touched)
            if rest:
                spare.append((symbol, rest))
        home = touched[0] if touched else structures[-1]
        for symbol, qty in spare:
            home.legs[symbol] = home.legs.get(symbol, 0) + qty
        self._exit(layer, touched or [home], reason)

    def settle(self, layer: str, symbol: str, quantity: int) -> None:
        touched: list[_Structure] = []
        self._reduce(self.open.get(layer, []), symbol, -quantity, touched)
        self._exit(layer, touched, "settlement")

    @staticmethod
    def _reduce(
        structures: list[_Structure], symbol: str, qty: int, touched: list[_Structure]
    ) -> int:
        for s in structures:
            held = s.legs.get(symbol, 0)
            if qty == 0:
                break
            if held == 0 or (held > 0) == (qty > 0):
                continue
            step = -held if abs(held) <= abs(qty) else qty
            if held + step:
                s.legs[symbol] = held + step
            else:
                del s.legs[symbol]
            qty -= step
            if not any(t is s for t in touched):
                touched.append(s)
        return qty

    def _exit(self, layer: str, touched: list[_Structure], reason: str) -> None:
        structures = self.open.get(layer, [])
        for s in touched:
            if not s.legs and any(t is s for t in structures):
                structures.remove(s)
                self.exits.setdefault(layer, Counter())[reason] += 1


def rebuild_books(fills: list[dict[str, Any]], settlements: list[dict[str, Any]]) -> Books:
    """Replay fills and settlements in ledger order (settlements first at a feed position:
    the broker settles before the layers trade on a snapshot)."""
    books = Books()
    events = [((f["position"], 1, i), f) for i, f in enumerate(fills)]
    events += [((s["position"], 0, i), s) for i, s in enumerate(settlements)]
    for _, row in sorted(events, key=lambda e: e[0]):
        if "fill_id" in row:
            legs = [(leg["symbol"], int(leg["quantity"])) for leg in row["legs"]]
            books.fill(row["layer"], row["reason"], legs)
        else:
            books.settle(row["layer"], row["symbol"], int(row["quantity"]))
    return books
