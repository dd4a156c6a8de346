"""Segment rules: same rows as pandas.DataFrame.query on random data; errors point at the character."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from couponlens.engine import connect
from couponlens.experiments.segments import SegmentRuleError, parse_segment_rule, tokenize

TEXTS = ["x", "y", "it's", 'say "hi"']


def _random_frame(rng: np.random.Generator, n: int = 300) -> pd.DataFrame:
    b = rng.normal(0, 2, n).round(1)
    b[rng.random(n) < 0.1] = np.nan
    c = rng.choice(np.array(["x", "y", "it's", 'say "hi"'], dtype=object), n)
    c[rng.random(n) < 0.1] = None
    return pd.DataFrame(
        {
            "a": rng.integers(-3, 4, n),
            "b": b,
            "c": c,
            "flag": rng.random(n) < 0.5,
            "my col": rng.integers(0, 3, n),
        }
    )


def _quote(value: str, rng: np.random.Generator) -> str:
    if "'" in value:
        return '"' + value.replace('"', '\\"') + '"'
    if '"' in value:
        return "'" + value + "'"
    return repr(value) if rng.random() < 0.5 else '"' + value + '"'


def _random_condition(rng: np.random.Generator, depth: int = 0) -> str:
    choice = rng.integers(0, 9 if depth < 3 else 5)
    op = str(rng.choice(["==", "!=", "<", "<=", ">", ">="]))
    if choice == 0:
        return f"a {op} {int(rng.integers(-3, 4))}"
    if choice == 1:
        return f"b {op} {float(rng.normal(0, 2)):.2f}"
    if choice == 2:
        eq = str(rng.choice(["==", "!="]))
        value = str(rng.choice(TEXTS))
        return f"c {eq} {_quote(value, rng)}"
    if choice == 3:
        neg = "not in" if rng.random() < 0.4 else "in"
        items = ", ".join(str(int(v)) for v in rng.integers(-3, 4, rng.integers(1, 4)))
        return f"a {neg} [{items}]"
    if choice == 4:
        return f"`my col` {op} {int(rng.integers(0, 3))}"
    left = _random_condition(rng, depth + 1)
    right = _random_condition(rng, depth + 1)
    if choice == 5:
        return f"{left} & {right}"
    if choice == 6:
        return f"{left} | {right}"
    if choice == 7:
        return f"~({left})"
    return f"({left} | {right}) & {_random_condition(rng, depth + 1)}"


def test_random_rules_select_the_same_rows_as_pandas_query() -> None:
    rng = np.random.default_rng(2024)
    frame = _random_frame(rng)
    con = connect(threads=1)
    table = con.create_table("segments_random", frame)
    ids = frame.assign(_row=np.arange(len(frame)))
    keyed = con.create_table("segments_keyed", ids)
    checked = 0
    for _ in range(150):
        text = _random_condition(rng)
        rule = parse_segment_rule(f"S={text}")
        expected = frame.query(text).index.to_numpy()
        got = keyed.filter(rule.to_ibis(keyed)).select("_row").execute()["_row"].to_numpy()
        assert sorted(got) == sorted(expected), text
        checked += 1
    assert checked == 150
    assert table.count().execute() == len(frame)


def test_the_seed_rules_and_the_ast() -> None:
    rule = parse_segment_rule("A=channel_acq == 3 & num_past_purch <= 2")
    assert (rule.name, rule.expression, rule.columns) == (
        "A",
        "channel_acq == 3 & num_past_purch <= 2",
        ["channel_acq", "num_past_purch"],
    )
    assert type(rule.tree).__name__ == "And"
    # & binds tighter than |, as in pandas
    tree = parse_segment_rule("S=a == 1 | a == 2 & b > 0").tree
    assert type(tree).__name__ == "Or" and type(tree.right).__name__ == "And"
    assert parse_segment_rule("S = -1.5e1 < b").tree.left.value == -15.0
    assert [t.kind for t in tokenize("x>=.5")] == ["NAME", "OP", "NUMBER", "END"]


@pytest.mark.parametrize(
    ("text", "position", "words"),
    [
        ("A=channel == 3 &", 16, "expected a column"),
        ("A=channel = 3", 10, "single '='"),
        ("A=channel == 3 and past < 2", 15, "& or |"),
        ("A=(channel == 3", 15, "expected ')'"),
        ("A=channel == 'abc", 13, "never closed"),
        ("A=channel in 3", 13, "expected '['"),
        ("A=channel in []", 13, "empty"),
        ("A=1 < a < 3", 8, "chained"),
        ("A=__import__('os').system('x')", 18, "unexpected character"),
        ("A=a + 1 > 2", 4, "unexpected character"),
        ("no rule here", 0, "NAME=EXPR"),
        ("=a == 1", 0, "no name"),
        ("all=a == 1", 0, "reserved"),
        ("A=", 2, "empty"),
        ("A=3abc == 1", 3, "right after the number"),
        ("A=not a", 2, "write ~"),
    ],
)
def test_errors_point_at_the_offending_character(text: str, position: int, words: str) -> None:
    with pytest.raises(SegmentRuleError) as info:
        parse_segment_rule(text)
    error = info.value
    assert error.position == position, str(error)
    assert words in str(error)
    lines = str(error).splitlines()
    assert lines[1].strip() == text.strip()
    assert lines[2].index("^") - lines[1].index(text[0]) == position


def test_compile_errors_name_the_column_and_point_at_it() -> None:
    con = connect(threads=1)
    table = con.create_table(
        "segments_errors", pd.DataFrame({"age": [1, 2], "city": ["a", "b"], "ok": [True, False]})
    )
    cases = [
        ("S=age > 1 & citty == 'a'", 12, "no column named 'citty'"),
        ("S=city > 3", 9, "cannot compare a string with a number"),
        ("S=age in ['x']", 10, "cannot compare a number column with a string"),
        ("S=age", 2, "must be a condition"),
        ("S=~age", 2, "'~' negates a condition"),
        ("S=age & ok", 2, "must be a condition"),
        ("S=1 == 1", 4, "needs a column"),
    ]
    for text, position, words in cases:
        with pytest.raises(SegmentRuleError) as info:
            parse_segment_rule(text).to_ibis(table)
        assert info.value.position == position, (text, str(info.value))
        assert words in str(info.value), (text, str(info.value))
    # a boolean column is a condition on its own, and ~ negates it
    got = table.filter(parse_segment_rule("S=~ok | age > 1").to_ibis(table)).count().execute()
    assert got == 1
