"""The SQL subset SOQL and SuiteQL share: SELECT cols FROM t WHERE a op v AND ... ORDER BY ... LIMIT.

Dialects (soql.py, suiteql.py) decide what literals mean and how columns compare and render; this
module only tokenises and parses, so both speak the same grammar with one implementation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import clock


class QueryError(ValueError):
    pass


_TOKEN = re.compile(r"""\s*(?:
    (?P<str>'(?:[^'\\]|\\.|'')*')
  | (?P<dt>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),*])
  | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
)""", re.X)


def tokenize(text: str) -> list[tuple[str, str]]:
    pos, out, text = 0, [], text.strip().rstrip(";")
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise QueryError(f"unexpected token at position {pos}: {text[pos:pos + 20]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


@dataclass
class Column:
    name: str                 # lower-cased source column, or '*'
    alias: str | None = None
    func: str | None = None   # 'to_char', 'count' (SOQL COUNT())
    fmt: str | None = None

    @property
    def key(self) -> str:
        return self.alias or (f"{self.func}({self.name})" if self.func else self.name)


@dataclass
class Cond:
    field: str
    op: str
    value: object  # Literal or list of Literal for IN


@dataclass
class Literal:
    kind: str   # 'ts', 'day', 'str', 'num', 'bool', 'null'
    value: object


@dataclass
class Query:
    columns: list[Column]
    table: str
    where: list[Cond] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (column, descending)
    limit: int | None = None


class _Parser:
    def __init__(self, text: str):
        self.toks = tokenize(text)
        self.i = 0

    def peek(self, k: int = 0):
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else (None, None)

    def kw(self, word: str) -> bool:
        kind, val = self.peek()
        if kind == "name" and val.upper() == word:
            self.i += 1
            return True
        return False

    def expect_kw(self, word: str) -> None:
        if not self.kw(word):
            raise QueryError(f"expected {word} at token {self.peek()[1]!r}")

    def take(self, kind: str, value: str | None = None) -> str:
        k, v = self.peek()
        if k != kind or (value is not None and v.upper() != value):
            raise QueryError(f"expected {value or kind}, got {v!r}")
        self.i += 1
        return v

    def parse(self) -> Query:
        self.expect_kw("SELECT")
        cols = [self.column()]
        while self.peek() == ("punct", ","):
            self.i += 1
            cols.append(self.column())
        self.expect_kw("FROM")
        q = Query(cols, self.take("name").lower())
        if self.kw("WHERE"):
            q.where.append(self.cond())
            while self.kw("AND"):
                q.where.append(self.cond())
            if self.peek()[1] and self.peek()[1].upper() == "OR":
                raise QueryError("OR is not supported by this simulator")
        if self.kw("ORDER"):
            self.expect_kw("BY")
            while True:
                name = self.take("name").lower()
                desc = self.kw("DESC")
                if not desc:
                    self.kw("ASC")
                if self.kw("NULLS"):
                    self.kw("FIRST") or self.kw("LAST")
                q.order.append((name, desc))
                if self.peek() != ("punct", ","):
                    break
                self.i += 1
        if self.kw("LIMIT"):
            q.limit = int(self.take("num"))
        if self.i != len(self.toks):
            raise QueryError(f"unexpected {self.peek()[1]!r}")
        return q

    def column(self) -> Column:
        if self.peek() == ("punct", "*"):
            self.i += 1
            return Column("*")
        name = self.take("name")
        col = Column(name.lower())
        if name.upper() == "COUNT" and self.peek() == ("punct", "(") and self.peek(1) == ("punct", ")"):
            self.i += 2  # SOQL's COUNT(): the number of matching rows, no records
            return Column("count()", func="count")
        if self.peek() == ("punct", "("):
            if name.upper() != "TO_CHAR":
                raise QueryError(f"function {name} is not supported")
            self.i += 1
            col = Column(self.take("name").lower(), func="to_char")
            self.take("punct", ",")
            col.fmt = self.string()
            self.take("punct", ")")
        if self.kw("AS"):
            col.alias = self.take("name").lower()
        elif self.peek()[0] == "name" and self.peek()[1].upper() not in ("FROM",):
            col.alias = self.take("name").lower()
        return col

    def string(self) -> str:
        raw = self.take("str")
        return raw[1:-1].replace("''", "'").replace("\\'", "'")

    def cond(self) -> Cond:
        name = self.take("name").lower()
        if self.kw("IN"):
            self.take("punct", "(")
            vals = [self.literal()]
            while self.peek() == ("punct", ","):
                self.i += 1
                vals.append(self.literal())
            self.take("punct", ")")
            return Cond(name, "in", vals)
        if self.kw("IS"):
            neg = self.kw("NOT")
            self.expect_kw("NULL")
            return Cond(name, "!=" if neg else "=", Literal("null", None))
        op = self.take("op")
        return Cond(name, "!=" if op == "<>" else op, self.literal())

    def literal(self) -> Literal:
        kind, val = self.peek()
        self.i += 1
        if kind == "str":
            self.i -= 1
            return Literal("str", self.string())
        if kind == "dt":
            return Literal("ts", clock.parse_ts(val))
        if kind == "date":
            return Literal("day", clock.parse_day(val))
        if kind == "num":
            return Literal("num", float(val) if "." in val else int(val))
        if kind == "name":
            up = val.upper()
            if up in ("TRUE", "FALSE"):
                return Literal("bool", up == "TRUE")
            if up == "NULL":
                return Literal("null", None)
            if up in ("TO_TIMESTAMP", "TO_DATE") and self.peek() == ("punct", "("):
                self.i += 1
                text = self.string()
                fmt = None
                if self.peek() == ("punct", ","):
                    self.i += 1
                    fmt = self.string()
                self.take("punct", ")")
                ts = parse_with_format(text, fmt)
                return Literal("ts" if up == "TO_TIMESTAMP" else "day", ts if up == "TO_TIMESTAMP" else ts // clock.DAY)
        raise QueryError(f"unexpected value {val!r}")


def parse(text: str) -> Query:
    if not text or not text.strip():
        raise QueryError("empty query")
    return _Parser(text).parse()


_FMT_TOKENS = {"YYYY": "%Y", "MM": "%m", "DD": "%d", "HH24": "%H", "HH": "%I", "MI": "%M", "SS": "%S"}
_FMT_RE = re.compile("|".join(sorted(_FMT_TOKENS, key=len, reverse=True)))


def strftime_format(fmt: str) -> str:
    """Oracle-style 'YYYY-MM-DD HH24:MI:SS' -> strftime format."""
    return _FMT_RE.sub(lambda m: _FMT_TOKENS[m.group(0)], fmt.replace('"', ""))


def parse_with_format(text: str, fmt: str | None) -> int:
    import datetime as dt
    if fmt:
        try:
            return int(dt.datetime.strptime(text, strftime_format(fmt)).replace(tzinfo=dt.UTC).timestamp())
        except ValueError as e:
            raise QueryError(f"value {text!r} does not match format {fmt!r}") from e
    return clock.parse_ts(text)


def compare(a, op: str, b) -> bool:
    if op == "in":
        return a in b
    if a is None or b is None:
        return (a is None) == (b is None) if op == "=" else (a is None) != (b is None) if op == "!=" else False
    try:
        if op == "=":
            return a == b
        if op == "!=":
            return a != b
        if op == ">":
            return a > b
        if op == ">=":
            return a >= b
        if op == "<":
            return a < b
        return a <= b
    except TypeError:
        return False


def sort_rows(rows: list, order: list[tuple[str, bool]], get) -> list:
    """Stable multi-key sort; None sorts last ascending (first descending), like Oracle."""
    for name, desc in reversed(order):
        rows.sort(key=lambda r, n=name: (get(r, n) is None, get(r, n) if get(r, n) is not None else 0),
                  reverse=desc)
    return rows
