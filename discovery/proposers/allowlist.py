"""The ast allow-list for proposal code: what a loss may use, and the parse-only check.

The check runs in the engine's process and only parses (`ast.parse`), never executes. It admits one
`def loss(<fixed signature>)` whose body holds assignments and a return of arithmetic on the arguments,
calls of the functions in FUNCTIONS, math constants and declared constants `c["name"]`. Everything else
(imports, loops, lambdas, comprehensions, attribute access outside FUNCTIONS, any dunder, calls of names
such as open / exec / eval / getattr / the function itself, global statements, f-strings) is refused with
one message naming the line and what is allowed. The worker that executes a proposal builds its namespace
from the same tables (`namespace`), so a name the check admits is the only object the code can reach.
"""
from __future__ import annotations

import ast
from typing import Iterable

from discovery.proposers.proposal import ARGS, FUNCTION, SIGNATURE

# module -> allowed function names (the names a proposal may call)
FUNCTIONS: dict[str, tuple[str, ...]] = {
    "jnp": ("exp", "log", "log1p", "expm1", "sqrt", "square", "abs", "maximum", "minimum", "where", "clip",
            "tanh", "arctan", "sinh", "cosh", "sin", "cos", "sign", "logaddexp", "power", "reciprocal", "cbrt",
            "mean", "sum", "std", "var", "max", "min", "median", "sort", "ones_like", "zeros_like", "full_like",
            "isfinite", "log2", "log10", "exp2", "heaviside", "round", "floor", "ceil"),
    "jax.nn": ("sigmoid", "softplus", "log_sigmoid", "relu", "silu", "gelu", "elu", "celu", "soft_sign",
               "hard_tanh", "squareplus", "sparse_plus", "logsumexp", "relu6"),
    "jax.lax": ("stop_gradient", "rsqrt", "logistic", "erf", "erfc", "clamp", "lgamma", "digamma"),
}
MATH_CONSTANTS = ("pi", "e", "inf", "tau")
BUILTINS = ("abs", "min", "max", "float")
MODULES = ("jnp", "jax", "math")

_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.Mod, ast.FloorDiv)
_UNARY = (ast.USub, ast.UAdd)
_COMPARE = (ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq)
ALLOWED_SUMMARY = ("arithmetic (+ - * / ** % //, comparisons), assignments to local names, "
                   "jnp.{exp, log, where, ...}, jax.nn.{sigmoid, softplus, log_sigmoid, ...}, "
                   "jax.lax.{stop_gradient, ...}, math.{pi, e}, abs/min/max/float and c[\"constant\"]")


class Refused(ValueError):
    """Proposal code outside the allow-list: one message, fed back to the proposer."""


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def allowed_functions() -> set[str]:
    out = {f"{mod}.{fn}" for mod, names in FUNCTIONS.items() for fn in names}
    out |= {f"jax.numpy.{fn}" for fn in FUNCTIONS["jnp"]}
    return out | set(BUILTINS)


class _Checker(ast.NodeVisitor):
    def __init__(self, constants: Iterable[str]) -> None:
        self.constants = set(constants)
        self.locals: set[str] = set(ARGS)
        self.functions = allowed_functions()

    def refuse(self, node: ast.AST, what: str) -> None:
        line = getattr(node, "lineno", "?")
        raise Refused(f"line {line}: {what}; allowed: {ALLOWED_SUMMARY}")

    # --- statements ---------------------------------------------------------------------------
    def check_body(self, body: list[ast.stmt]) -> None:
        if not body or not isinstance(body[-1], ast.Return):
            self.refuse(body[-1] if body else ast.Pass(), "the function must end with `return <per-pair losses>`")
        for i, stmt in enumerate(body):
            if isinstance(stmt, ast.Expr) and i == 0 and isinstance(stmt.value, ast.Constant) \
                    and isinstance(stmt.value.value, str):
                continue  # docstring
            if isinstance(stmt, ast.Assign):
                for target in stmt.targets:
                    self.store(target, register=False)  # the target's form first: its message is the clearer one
                self.visit(stmt.value)
                for target in stmt.targets:
                    self.store(target)
            elif isinstance(stmt, ast.AugAssign):
                if not isinstance(stmt.op, _BINOPS):
                    self.refuse(stmt, f"operator {type(stmt.op).__name__} is not allowed")
                self.visit(stmt.value)
                self.store(stmt.target, augmented=True)
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                self.visit(stmt.value)
                self.store(stmt.target)
            elif isinstance(stmt, ast.Return) and stmt.value is not None:
                self.visit(stmt.value)
            elif isinstance(stmt, ast.Pass):
                pass
            elif isinstance(stmt, ast.Expr):
                self.visit(stmt.value)  # names what is wrong inside first (e.g. a call of open)
                self.refuse(stmt, "a bare expression statement is not allowed (assign its value or return it)")
            else:
                self.refuse(stmt, f"a `{_stmt_name(stmt)}` statement is not allowed")

    def store(self, target: ast.AST, augmented: bool = False, register: bool = True) -> None:
        if isinstance(target, ast.Tuple) and not augmented:
            for t in target.elts:
                self.store(t, register=register)
            return
        if not isinstance(target, ast.Name):
            self.refuse(target, "only plain local names can be assigned (no attribute, item or global writes)")
        name = target.id
        if name.startswith("__") or name in MODULES or name in BUILTINS or name in (FUNCTION, "c"):
            self.refuse(target, f"the name '{name}' cannot be assigned")
        if augmented and name not in self.locals:
            self.refuse(target, f"'{name}' is used before it is assigned")
        if register:
            self.locals.add(name)

    # --- expressions --------------------------------------------------------------------------
    def generic_visit(self, node: ast.AST) -> None:
        self.refuse(node, f"{_expr_name(node)} is not allowed")

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            self.refuse(node, f"the literal {node.value!r} is not allowed (numbers only)")

    def visit_Name(self, node: ast.Name) -> None:
        if node.id.startswith("_"):
            self.refuse(node, f"the name '{node.id}' is not allowed (no private or dunder names)")
        if node.id in MODULES:
            self.refuse(node, f"'{node.id}' can only be used as {node.id}.<allowed function>")
        if node.id == "c":
            self.refuse(node, 'the constants can only be read as c["name"]')
        if node.id in BUILTINS:
            self.refuse(node, f"'{node.id}' can only be called")
        if node.id not in self.locals:
            self.refuse(node, f"the name '{node.id}' is not allowed or not assigned yet")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        dotted = _dotted(node)
        if dotted is None or "__" in dotted:
            self.refuse(node, "this attribute access is not allowed (no dunders, attributes of functions only)")
        if dotted.startswith("math.") and dotted[5:] in MATH_CONSTANTS:
            return
        self.refuse(node, f"'{dotted}' is not an allowed constant")

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if not isinstance(node.op, _BINOPS):
            self.refuse(node, f"operator {type(node.op).__name__} is not allowed")
        self.visit(node.left)
        self.visit(node.right)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if not isinstance(node.op, _UNARY):
            self.refuse(node, f"operator {type(node.op).__name__} is not allowed (use jnp.where for conditions)")
        self.visit(node.operand)

    def visit_Compare(self, node: ast.Compare) -> None:
        if len(node.ops) != 1 or not isinstance(node.ops[0], _COMPARE):
            self.refuse(node, "only single comparisons (a < b) are allowed")
        self.visit(node.left)
        self.visit(node.comparators[0])

    def visit_Subscript(self, node: ast.Subscript) -> None:
        key = node.slice
        if not (isinstance(node.value, ast.Name) and node.value.id == "c" and isinstance(key, ast.Constant)
                and isinstance(key.value, str)):
            self.refuse(node, 'indexing is not allowed except c["constant name"]')
        if key.value not in self.constants:
            declared = ", ".join(sorted(self.constants)) or "none"
            self.refuse(node, f"constant '{key.value}' is not declared (declared: {declared})")

    def visit_Call(self, node: ast.Call) -> None:
        name = _dotted(node.func)
        if name is None and isinstance(node.func, ast.Attribute):
            self.visit(node.func.value)  # names what is wrong inside first, e.g. open(...) in open(...).write()
        if name is None:
            self.refuse(node, "only calls of allowed functions by name are allowed (no methods)")
        if "__" in name:
            self.refuse(node, f"calling '{name}' is not allowed (no dunders)")
        if name == FUNCTION:
            self.refuse(node, f"'{FUNCTION}' cannot call itself (no recursion)")
        if name not in self.functions:
            self.refuse(node, f"calling '{name}' is not allowed")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                self.refuse(arg, "*args is not allowed")
            self.visit(arg)
        for kw in node.keywords:
            if kw.arg is None:
                self.refuse(kw.value, "**kwargs is not allowed")
            self.visit(kw.value)


def _stmt_name(stmt: ast.stmt) -> str:
    return {"Import": "import", "ImportFrom": "from ... import", "While": "while", "For": "for", "If": "if",
            "Global": "global", "Nonlocal": "nonlocal", "With": "with", "Try": "try", "Raise": "raise",
            "FunctionDef": "def", "ClassDef": "class", "Delete": "del", "Expr": "expression"}.get(
        type(stmt).__name__, type(stmt).__name__)


def _expr_name(node: ast.AST) -> str:
    return {"Lambda": "a lambda", "ListComp": "a comprehension", "GeneratorExp": "a comprehension",
            "DictComp": "a comprehension", "SetComp": "a comprehension", "IfExp": "`a if cond else b` (use jnp.where)",
            "BoolOp": "`and`/`or` (use jnp.where, jnp.logical_and)", "JoinedStr": "an f-string",
            "Dict": "a dict literal", "List": "a list literal", "Tuple": "a tuple literal", "Set": "a set literal",
            "NamedExpr": "`:=`", "Await": "await", "Yield": "yield", "Starred": "*args", "Slice": "a slice"}.get(
        type(node).__name__, f"the syntax {type(node).__name__}")


def check_code(code: str, constants: Iterable[str] = ()) -> ast.Module:
    """Parse `code` and check it against the allow-list; returns the tree or raises Refused."""
    try:
        tree = ast.parse(code, mode="exec")
    except SyntaxError as e:
        raise Refused(f"line {e.lineno}: syntax error: {e.msg}") from None
    body = [s for s in tree.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    if len(body) != 1 or not isinstance(body[0], ast.FunctionDef):
        what = ", ".join(sorted({_stmt_name(s) for s in body if not isinstance(s, ast.FunctionDef)})) or "nothing"
        raise Refused(f"the code must define exactly one function `{SIGNATURE}` and nothing else at top level "
                      f"(found: {len(body)} statements; {what})")
    fn = body[0]
    if fn.name != FUNCTION:
        raise Refused(f"line {fn.lineno}: the function must be named '{FUNCTION}' with the signature `{SIGNATURE}`")
    a = fn.args
    names = [x.arg for x in a.args]
    if (tuple(names) != ARGS or a.posonlyargs or a.vararg or a.kwarg or a.kwonlyargs or a.defaults
            or a.kw_defaults or fn.decorator_list or fn.returns is not None):
        raise Refused(f"line {fn.lineno}: the signature must be exactly `{SIGNATURE}` (no defaults, decorators or "
                      f"extra arguments); got ({', '.join(names)})")
    if any(x.annotation is not None for x in a.args):
        raise Refused(f"line {fn.lineno}: argument annotations are not allowed")
    _Checker(constants).check_body(fn.body)
    return tree


def namespace() -> dict:
    """The globals a checked proposal executes in (in the worker only): each module holds exactly the allowed
    functions (not the real module, so `jax.config` or `jnp.load` are not even reachable), and the builtins are
    BUILTINS alone."""
    import builtins
    import math
    import types

    import jax
    import jax.numpy as jnp

    real = {"jnp": jnp, "jax.nn": jax.nn, "jax.lax": jax.lax}
    mods = {m: types.SimpleNamespace(**{f: getattr(real[m], f) for f in names}) for m, names in FUNCTIONS.items()}
    jax_ns = types.SimpleNamespace(nn=mods["jax.nn"], lax=mods["jax.lax"], numpy=mods["jnp"])
    math_ns = types.SimpleNamespace(**{k: getattr(math, k) for k in MATH_CONSTANTS})
    return {"__builtins__": {b: getattr(builtins, b) for b in BUILTINS}, "jnp": mods["jnp"], "jax": jax_ns,
            "math": math_ns}
