"""Annotations as the docs show them: the plain type, and its constraints in words.

The generated code validates with `Annotated[str, Field(min_length=1, max_length=255)]`; a
reader of the docs wants `str` and "1 to 255 characters".
"""

from __future__ import annotations

import ast

_UNITS = {"str": "characters", "list": "items"}


def plain_type(code: str) -> str:
    """`code` with every `Annotated[T, ...]` replaced by `T`."""
    return ast.unparse(_Unannotate().visit(ast.parse(code, mode="eval")))


def constraints(code: str) -> str:
    """The `Field(...)` constraints in `code`, in words: "1 to 255 characters; matches `^x$`".

    Empty when there are none.
    """
    words: list[str] = []
    for node in ast.walk(ast.parse(code, mode="eval")):
        if _is_annotated(node):
            assert isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Tuple)
            inner, *metadata = node.slice.elts
            for meta in metadata:
                if isinstance(meta, ast.Call) and _name(meta.func) == "Field":
                    words.extend(_describe(_base_name(inner), meta.keywords))
    return "; ".join(words)


def _describe(base: str, keywords: list[ast.keyword]) -> list[str]:
    values = {k.arg: ast.literal_eval(k.value) for k in keywords if k.arg is not None}
    words: list[str] = []
    unit = _UNITS.get(base)
    low, high = values.pop("min_length", None), values.pop("max_length", None)
    if unit and low is not None and high is not None:
        words.append(f"{low} to {high} {unit}")
    elif unit and low is not None:
        words.append(f"at least {low} {unit[:-1] if low == 1 else unit}")
    elif unit and high is not None:
        words.append(f"at most {high} {unit}")
    for key, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
        if key in values:
            words.append(f"{symbol} {values.pop(key)}")
    if "pattern" in values:
        words.append(f"matches `{values.pop('pattern')}`")
    words.extend(f"{key}={value!r}" for key, value in values.items())
    return words


class _Unannotate(ast.NodeTransformer):
    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        if _is_annotated(node):
            assert isinstance(node.slice, ast.Tuple)
            inner: ast.AST = self.visit(node.slice.elts[0])
            return inner
        return self.generic_visit(node)


def _is_annotated(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Subscript)
        and _name(node.value) == "Annotated"
        and isinstance(node.slice, ast.Tuple)
    )


def _base_name(node: ast.expr) -> str:
    return _name(node.value if isinstance(node, ast.Subscript) else node)


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""
