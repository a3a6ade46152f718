"""Segment reuse (``{"segment": id}``): cycles, and how deep and how wide a rule's chain of
reused segments may grow. Pure; the caller hands in each segment's direct references.

Every walk here reads each segment's references at most once (memoised, iterative), so a
ladder of segments that each reuse the previous one twice costs as many steps as it has
segments — not 2^n — and a long stored chain cannot exhaust the stack.

    problem = reuse_problem({"seg_a"}, {"seg_a": {"loyal"}, "loyal": set()}, editing=None)
    problem is None   # fine: one segment deep
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

# A rule -> segment -> segment ... chain holds at most this many segments, and a rule reaches
# at most this many distinct segments through reuse (compiling it compiles all of them).
MAX_REUSE_DEPTH = 8
MAX_REUSED = 50
_ROOT = ""   # the rule being checked when it is no saved segment's (no id is empty)

Refs = Callable[[str], Iterable[str]]


@dataclass(frozen=True)
class ReuseProblem:
    reference: str     # the rule's direct reference that leads to the problem
    message: str


def find_cycle(start: Iterable[str], refs: Refs, editing: str | None) -> list[str] | None:
    """A chain of segment ids from one of ``start`` back to ``editing`` (or into any loop),
    else None. ``refs(seg)`` gives a segment's direct references; each is read once."""
    done: set[str] = set()
    for root in sorted(start):
        chain = _cycle_from(root, refs, editing, done)
        if chain:
            return chain
    return None


def _cycle_from(root: str, refs: Refs, editing: str | None, done: set[str]) -> list[str] | None:
    trail: list[str] = []
    on_trail: set[str] = set()
    stack: list[tuple[str, Iterator[str]]] = []

    def enter(seg: str) -> list[str] | None:
        if seg == editing or seg in on_trail:
            return [*trail, seg]
        if seg not in done:
            trail.append(seg)
            on_trail.add(seg)
            stack.append((seg, iter(sorted(refs(seg)))))
        return None

    found = enter(root)
    while stack and not found:
        seg, children = stack[-1]
        nxt = next(children, None)
        if nxt is None:
            stack.pop()
            trail.pop()
            on_trail.discard(seg)
            done.add(seg)
        else:
            found = enter(nxt)
    return found


def reuse_problem(start: set[str], refs: Mapping[str, Iterable[str]], editing: str | None
                  ) -> ReuseProblem | None:
    """Whether giving a rule the direct references ``start`` breaks a reuse limit.

    ``refs`` maps every segment of the seller to its direct references; ``editing`` is the
    segment whose rule this is (None for a new segment, a preview, a filter). Editing a
    segment lengthens the chains of every segment that reuses it, so those are checked too.
    Call it after ``find_cycle`` found none.
    """
    root = editing or _ROOT
    reusers = _reusers(root, refs)

    def children(seg: str) -> Iterable[str]:
        return start if seg == root else refs.get(seg, ())

    depth, reach = _measure(children, [root, *sorted(reusers)])
    for seg in [root, *sorted(reusers)]:
        deep, wide = depth[seg], bin(reach[seg]).count("1")
        whose = "this rule" if seg == root else f"segment '{seg}', which reuses this one,"
        if deep > MAX_REUSE_DEPTH:
            worst = max(sorted(start), key=lambda s: depth.get(s, 0))
            return ReuseProblem(worst, f"{whose} would reuse segments {deep} deep (a chain "
                                       f"of reused segments holds at most {MAX_REUSE_DEPTH})")
        if wide > MAX_REUSED:
            return ReuseProblem(min(start), f"{whose} would reuse {wide} segments in all "
                                            f"(at most {MAX_REUSED})")
    return None


def _reusers(seg: str, refs: Mapping[str, Iterable[str]]) -> set[str]:
    """Every segment whose chain of references reaches ``seg``."""
    if seg == _ROOT:
        return set()
    users: dict[str, list[str]] = {}
    for owner, targets in refs.items():
        for target in targets:
            users.setdefault(target, []).append(owner)
    found: set[str] = set()
    todo = [seg]
    while todo:
        for owner in users.get(todo.pop(), ()):
            if owner not in found and owner != seg:
                found.add(owner)
                todo.append(owner)
    return found


def _measure(children: Refs, roots: list[str]) -> tuple[dict[str, int], dict[str, int]]:
    """For every segment below ``roots``: the length of its longest chain of reused
    segments, and the set of segments it reaches (a bit per segment). One post-order walk;
    a loop left by a race is cut where the walk meets it again."""
    bit: dict[str, int] = {}
    depth: dict[str, int] = {}
    reach: dict[str, int] = {}
    for root in roots:
        if root in depth:
            continue
        open_: set[str] = {root}
        first = sorted(children(root))
        stack: list[tuple[str, list[str], Iterator[str]]] = [(root, first, iter(first))]
        while stack:
            seg, kids, todo = stack[-1]
            pending = next((k for k in todo if k not in depth and k not in open_), None)
            if pending is not None:
                open_.add(pending)
                grand = sorted(children(pending))
                stack.append((pending, grand, iter(grand)))
                continue
            stack.pop()
            open_.discard(seg)
            done = [k for k in kids if k in depth]   # a kid still open closes a loop: cut
            depth[seg] = max((1 + depth[k] for k in done), default=0)
            mask = 0
            for k in done:
                mask |= reach[k] | bit.setdefault(k, 1 << len(bit))
            reach[seg] = mask
    return depth, reach
