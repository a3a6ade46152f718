"""Each route lists exactly the error statuses its code can raise (docs/openapi.md "Error
statuses"). Read from the code, not from runs: starting at the view, every call into
chalicelib is followed (module functions, function-level imports, nested attempts), and
each domain error constructed on the way counts with its status. ``retry_on_conflict``
counts as 409 (``KeptChanging``), and as 412 when the caller hands it an ``If-Match``."""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
import types

import pytest

ALWAYS = {400, 401, 403}          # every route with a role lists these (routing.error_statuses)
API_MODULES = ("customers", "health", "imports", "inbox", "performance", "plans", "products",
               "segments", "shop_settings", "tag_rules", "tags", "vouchers", "billing",
               "followups", "conversations", "exports", "overview", "console")


class Reach:
    """The statuses of the domain errors a function can raise, following its calls."""

    def __init__(self) -> None:
        from chalicelib.domain import errors

        self.errors = errors
        self.seen: dict[object, set[int]] = {}

    def of(self, fn: types.FunctionType) -> set[int]:
        if fn in self.seen:
            return self.seen[fn]
        self.seen[fn] = set()       # a cycle adds nothing
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        except (OSError, TypeError):
            return set()
        names = dict(fn.__globals__)
        for node in ast.walk(tree):    # function-level imports bind names too
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                module = importlib.import_module(node.module)
                for alias in node.names:
                    value = getattr(module, alias.name, None)
                    if value is None:
                        value = importlib.import_module(f"{node.module}.{alias.name}")
                    names[alias.asname or alias.name] = value
        found: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                found |= self.call(node, names)
        self.seen[fn] = found
        return found

    def call(self, node: ast.Call, names: dict) -> set[int]:
        target = self.resolve(node.func, names)
        if getattr(target, "__name__", None) == "retry_on_conflict":   # wherever it lives
            given = {k.arg: k.value for k in node.keywords}
            if_match = given.get("if_match")
            takes = if_match is not None and not (isinstance(if_match, ast.Constant)
                                                  and if_match.value is None)
            return {409, 412} if takes else {409}
        if isinstance(target, type) and issubclass(target, self.errors.DomainError):
            return {target.status}
        if isinstance(target, types.FunctionType) and target.__module__.startswith("chalicelib."):
            return self.of(target)
        return set()

    @staticmethod
    def resolve(func: ast.expr, names: dict) -> object:
        if isinstance(func, ast.Name):
            return names.get(func.id)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            owner = names.get(func.value.id)
            if isinstance(owner, types.ModuleType):
                return getattr(owner, func.attr, None)
        return None


def _views() -> dict[str, types.FunctionType]:
    out = {}
    for name in API_MODULES:
        module = importlib.import_module(f"chalicelib.api.{name}")
        out.update({n: f for n, f in vars(module).items()
                    if isinstance(f, types.FunctionType) and f.__module__ == module.__name__})
    return out


def _routes():
    import app  # noqa: F401  (registers every route)
    from chalicelib.api.routing import ROUTES

    return ROUTES


@pytest.mark.parametrize("route", _routes(), ids=lambda r: f"{r.method} {r.path}")
def test_a_route_lists_exactly_the_error_statuses_its_code_can_raise(route):
    reach = Reach()
    view = _views()[route.name]
    raised = reach.of(view)
    if "{" in route.path and route.method != "PUT":
        raised |= {404}             # unknown ids: the decorator documents it, services raise it
    listed = set(route.errors) - ALWAYS
    assert listed == raised - ALWAYS, f"listed {sorted(listed)}, raisable {sorted(raised)}"
