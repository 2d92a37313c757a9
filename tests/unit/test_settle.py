"""The settling rule, as a table: what was seen when, and what is decided when."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from file_watcher.settle import LONGEST_TICK_S, SHORTEST_TICK_S, Settling

# A step is one of:
#   ("seen", key, what, now, age)  -> expect: decided at once (True) or held (False)
#   ("due", now)                   -> expect: the (key, what) due then
#   ("again", key, was, what, now, age) -> expect: decided (True) or held again (False)
Step = tuple[object, ...]


@dataclass(frozen=True)
class Case:
    name: str
    settle_s: float
    steps: list[tuple[Step, object]]


CASES = [
    Case(
        "held until quiet for the settle period",
        1.0,
        [
            (("seen", "a", 1, 10.0, None), False),
            (("due", 10.5), []),
            (("due", 11.0), [("a", 1)]),
            (("due", 100.0), []),
        ],
    ),
    Case(
        "the same observation again keeps the clock running",
        1.0,
        [
            (("seen", "a", 7, 0.0, None), False),
            (("seen", "a", 7, 0.3, None), False),
            (("seen", "a", 7, 0.9, None), False),
            (("due", 1.0), [("a", 7)]),
        ],
    ),
    Case(
        "a change restarts the clock",
        1.0,
        [
            (("seen", "a", 1, 0.0, None), False),
            (("seen", "a", 2, 0.8, None), False),
            (("due", 1.2), []),
            (("due", 1.8), [("a", 2)]),
        ],
    ),
    Case(
        "created then deleted within the period settles as one deletion",
        0.5,
        [
            (("seen", "a", 1, 0.0, None), False),
            (("seen", "a", 2, 0.1, None), False),
            (("seen", "a", None, 0.2, None), False),
            (("due", 1.0), [("a", None)]),
        ],
    ),
    Case(
        "paths settle independently",
        1.0,
        [
            (("seen", "a", 1, 0.0, None), False),
            (("seen", "b", 1, 0.5, None), False),
            (("due", 1.0), [("a", 1)]),
            (("due", 1.5), [("b", 1)]),
        ],
    ),
    Case(
        "a zero period decides at the first look",
        0.0,
        [(("seen", "a", 1, 3.0, None), False), (("due", 3.0), [("a", 1)])],
    ),
    Case(
        "a file unchanged for the whole period already is decided at once",
        0.5,
        [(("seen", "a", 1, 10.0, 0.5), True), (("seen", "b", 1, 10.0, 60.0), True)],
    ),
    Case(
        "a young file's quiet period counts from its mtime",
        1.0,
        [
            (("seen", "a", 1, 10.0, 0.7), False),
            (("due", 10.2), []),
            (("due", 10.3), [("a", 1)]),
        ],
    ),
    Case(
        "an mtime in the future is no reason to wait longer",
        1.0,
        [(("seen", "b", 1, 20.0, -5.0), False), (("due", 21.0), [("b", 1)])],
    ),
    Case(
        "a gone path decides at once only after its period",
        1.0,
        [(("seen", "a", None, 0.0, 99.0), False), (("due", 1.0), [("a", None)])],
    ),
    Case(
        "looked at again: unchanged is decided",
        1.0,
        [(("again", "a", 1, 1, 5.0, 4.0), True)],
    ),
    Case(
        "looked at again: changed but old is decided as it is now",
        1.0,
        [(("again", "a", 1, 2, 5.0, 3.0), True)],
    ),
    Case(
        "looked at again: changed and young is held again",
        1.0,
        [
            (("again", "a", 1, 2, 5.0, 0.1), False),
            (("due", 5.8), []),
            (("due", 5.9), [("a", 2)]),
        ],
    ),
    Case(
        "looked at again: gone is held as gone",
        1.0,
        [(("again", "a", 1, None, 5.0, None), False), (("due", 6.0), [("a", None)])],
    ),
    Case(
        "looked at again: still gone is decided",
        1.0,
        [(("again", "a", None, None, 5.0, None), True)],
    ),
    Case(
        "noted again after it was due is new",
        1.0,
        [
            (("seen", "a", 1, 0.0, None), False),
            (("due", 2.0), [("a", 1)]),
            (("seen", "a", 1, 2.0, None), False),
            (("due", 2.5), []),
            (("due", 3.0), [("a", 1)]),
        ],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_settling(case: Case) -> None:
    settling: Settling[str, int] = Settling(case.settle_s)
    for step, expected in case.steps:
        kind, *args = step
        if kind == "seen":
            key, what, now, age = args
            got: object = settling.seen(key, what, now, age_s=age)  # type: ignore[arg-type]
        elif kind == "due":
            got = settling.due(args[0])  # type: ignore[arg-type]
        else:
            key, was, what, now, age = args
            got = settling.looked_again(key, was, what, now, age_s=age)  # type: ignore[arg-type]
        assert got == expected, f"{case.name}: {step}"


def test_forget_drops_what_is_held() -> None:
    settling: Settling[str, int] = Settling(1.0)
    settling.seen("a", 1, 0.0)
    settling.forget("a")
    settling.forget("never seen")
    assert "a" not in settling and len(settling) == 0
    assert settling.due(5.0) == []


@pytest.mark.parametrize(
    ("settle_s", "tick_s"), [(0.0, SHORTEST_TICK_S), (0.5, 0.125), (10.0, LONGEST_TICK_S)]
)
def test_due_paths_are_looked_for_often_enough(settle_s: float, tick_s: float) -> None:
    assert Settling[str, int](settle_s).tick_s == tick_s
