"""Column-mapping files under generated input (hypothesis).

A valid mapping (any source column names, any case, TOML or JSON, a date format, a gender value
map) loads exactly what an independent pandas rename-and-parse of the same file gives. An
invalid one (an unknown table or canonical name, a required column the file lacks, two canonical
columns on one source column, broken syntax, values of the wrong type) is one line naming the
mapping file through the CLI, and any mutation of a mapping's text is either a mapping or an
:class:`InputError`, never another exception.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from couponlens.cli import main
from couponlens.datasets.customers import GENDER_VALUES, SCHEMA, load_customer_data
from couponlens.engine import connect
from couponlens.errors import InputError

SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

#: Source names to draw from: plain words and, on purpose, other columns' built-in aliases.
_NAMES = st.sampled_from(
    [
        "client",
        "client_no",
        "sex",
        "dob",
        "user_id",
        "customer_id",
        "born",
        "Gender_Code",
        "birthday",
        "id",
        "extra",
        "usergender",
        "KUNDE",
        "geschlecht",
    ]  # fmt: skip
)
_FORMATS = {
    None: lambda d: d.isoformat(),
    "%d/%m/%Y": lambda d: d.strftime("%d/%m/%Y"),
    "%Y%m%d": lambda d: d.strftime("%Y%m%d"),
    "%m-%d-%Y": lambda d: d.strftime("%m-%d-%Y"),
}
_LABELS = ["male", "female", "not verified"]
SCHEMA_ALIASES = {c.name: c.aliases for c in SCHEMA["customers"]}


@st.composite
def _mapped_tables(draw: st.DrawFn) -> dict[str, Any]:
    sources = draw(st.lists(_NAMES, min_size=4, max_size=4, unique_by=str.lower))
    fmt = draw(st.sampled_from(list(_FORMATS)))
    codes = draw(
        st.none()
        | st.dictionaries(
            st.sampled_from(["H", "F", "X", "1", "2", "0", "m", "z9"]),
            st.sampled_from(_LABELS),
            min_size=1,
            max_size=4,
        )
    )
    gender_texts = sorted(codes) if codes else [*GENDER_VALUES, "Male", "NOT VERIFY"]
    row = st.tuples(
        st.integers(0, 10**12),
        st.sampled_from([*gender_texts, "", "??"]),
        st.none()
        | st.just(dt.date(1970, 1, 1))
        | st.dates(dt.date(1930, 1, 1), dt.date(2010, 12, 31)),
        st.sampled_from(["a", "b"]),
    )
    rows = draw(st.lists(row, min_size=1, max_size=25))
    rows += draw(st.lists(st.sampled_from(rows), max_size=3))  # exact duplicates
    return {
        "sources": sources,
        "header_case": draw(st.sampled_from([str, str.upper, str.title])),
        "format": fmt,
        "codes": codes,
        "rows": rows,
        "toml": draw(st.booleans()),
        # Unnamed columns are found by their built-in aliases, never taking a mapped column.
        "mapped": ["customer_id", *draw(st.sets(st.sampled_from(["gender", "birth_date"])))],
    }


def _write(folder: Path, case: dict[str, Any]) -> Path:
    """Write clients.csv and the mapping; return the mapping's path."""
    id_col, gender_col, birth_col, extra_col = case["sources"]
    shown = case["header_case"]
    with (folder / "clients.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([shown(extra_col), shown(birth_col), shown(id_col), shown(gender_col)])
        for customer, gender, born, extra in case["rows"]:
            text = "" if born is None else _FORMATS[case["format"]](born)
            writer.writerow([extra, text, customer, gender])
    named = {"customer_id": id_col, "gender": gender_col, "birth_date": birth_col}
    spec: dict[str, Any] = {
        "file": "clients.csv",
        "columns": {k: v for k, v in named.items() if k in case["mapped"]},
    }
    if case["format"]:
        spec["date_format"] = case["format"]
    if case["codes"]:
        spec["values"] = {"gender": case["codes"]}
    if case["toml"]:
        path = folder / "map.toml"
        lines = ["[customers]", f'file = "{spec["file"]}"']
        lines.append(
            "columns = { " + ", ".join(f'{k} = "{v}"' for k, v in spec["columns"].items()) + " }"
        )
        if "date_format" in spec:
            lines.append(f'date_format = "{spec["date_format"]}"')
        if "values" in spec:
            pairs = ", ".join(f'"{k}" = "{v}"' for k, v in spec["values"]["gender"].items())
            lines.append(f"values.gender = {{ {pairs} }}")
        path.write_text("\n".join(lines) + "\n")
    else:
        path = folder / "map.json"
        path.write_text(json.dumps({"customers": spec}))
    return path


def _oracle(folder: Path, case: dict[str, Any]) -> tuple[list[tuple[object, ...]], int, int] | None:
    """pandas: read as text, rename, drop exact duplicates, parse: the canonical rows (None when
    a value does not parse: a column found by its alias may hold something else)."""
    id_col, gender_col, birth_col, _ = case["sources"]
    frame = pd.read_csv(folder / "clients.csv", dtype=str, keep_default_na=False)
    read = len(frame)
    frame = frame.drop_duplicates()
    by_lower = {c.lower(): c for c in frame.columns}
    named = {"customer_id": id_col, "gender": gender_col, "birth_date": birth_col}
    mapped = {k: v.lower() for k, v in named.items() if k in case["mapped"]}
    columns = {}
    for canonical in named:
        source = mapped.get(canonical)
        if source is None:  # the first built-in alias the file has and the mapping left free
            aliases = [a for a in SCHEMA_ALIASES[canonical] if a in by_lower]
            source = next((a for a in aliases if a not in mapped.values()), None)
        columns[canonical] = frame[by_lower[source]] if source else pd.Series("", index=frame.index)
    frame = pd.DataFrame(columns)
    codes = {k.lower(): v for k, v in (case["codes"] or {}).items()}
    out = []
    for row in frame.itertuples():
        text = row.gender.strip()
        mapped = codes.get(text.lower(), text) if text else ""
        gender = GENDER_VALUES.get(mapped.lower(), "unknown")
        born = None
        if row.birth_date.strip():
            fmt = case["format"] or "%Y-%m-%d"
            try:
                born = dt.datetime.strptime(row.birth_date.strip(), fmt).date()
            except ValueError:
                return None  # the load must stop naming this line

            born = None if born == dt.date(1970, 1, 1) else born
        out.append((int(row.customer_id), gender, born))
    return sorted(out, key=repr), read, read - len(frame)


@SETTINGS
@given(case=_mapped_tables())
def test_a_valid_mapping_loads_what_pandas_rename_gives(
    tmp_path_factory: pytest.TempPathFactory, case: dict[str, Any]
) -> None:
    folder = tmp_path_factory.mktemp("mapped")
    mapping = _write(folder, case)
    oracle = _oracle(folder, case)
    if oracle is None:
        with pytest.raises(InputError, match=r"clients.csv, line \d+, column birth_date: "):
            load_customer_data(folder, mapping, connect(threads=1))
        return
    data = load_customer_data(folder, mapping, connect(threads=1))
    frame = data.require("customers").execute()
    got = sorted(
        (
            (
                int(r.customer_id),
                r.gender,
                None if pd.isna(r.birth_date) else pd.Timestamp(r.birth_date).date(),
            )
            for r in frame.itertuples()
        ),
        key=repr,
    )
    expected, read, dropped = oracle
    assert got == expected
    load = data.report.tables["customers"]
    assert (load.rows_read, load.duplicates_dropped, load.rows_kept) == (
        read,
        dropped,
        read - dropped,
    )


_CLIENTS = "client,sex,born\n1,H,1990-01-02\n2,F,1985-05-05\n"
#: name -> (mapping file name, its text, a fragment the one-line error must hold).
INVALID: dict[str, tuple[str, str, str]] = {
    "unknown table": (
        "m.toml",
        '[clients]\nfile = "clients.csv"\n',
        "unknown table(s) ['clients']",
    ),
    "unknown canonical column": (
        "m.toml",
        '[customers]\nfile = "clients.csv"\ncolumns = { client_number = "client" }\n',
        "names column 'client_number', which is not canonical",
    ),
    "unknown key": (
        "m.json",
        '{"customers": {"files": "clients.csv"}}',
        "unknown key(s) ['files']",
    ),
    "required column the file lacks": (
        "m.toml",
        '[customers]\nfile = "clients.csv"\ncolumns = { customer_id = "kunde" }\n',
        "the mapping names column 'kunde' for customer_id, but the file has only ['client',",
    ),
    "no column for a required one": (
        "m.toml",
        '[customers]\nfile = "clients.csv"\ncolumns = { gender = "sex" }\n',
        "no column for customer_id",
    ),
    "duplicate target": (
        "m.toml",
        '[customers]\nfile = "clients.csv"\ncolumns = { customer_id = "client", gender = "CLIENT" }\n',
        "maps both customer_id and gender to the column 'CLIENT'",
    ),
    "a key twice in JSON": (
        "m.json",
        '{"customers": {"file": "clients.csv", "file": "other.csv"}}',
        "key 'file' appears twice",
    ),
    "a key twice in TOML": ("m.toml", '[customers]\nfile = "a"\nfile = "b"\n', "not valid TOML"),
    "broken TOML": ("m.toml", '[customers\nfile = "clients.csv"\n', "not valid TOML"),
    "broken JSON": ("m.json", '{"customers": {"file": "clients.csv"', "not valid JSON"),
    "columns not a table": (
        "m.toml",
        '[customers]\nfile = "clients.csv"\ncolumns = ["client"]\n',
        "columns must be a table",
    ),
    "a file name that is a number": ("m.toml", "[customers]\nfile = 5\n", "file must be text"),
    "an unknown date format": (
        "m.toml",
        '[customers]\nfile = "clients.csv"\ncolumns = { customer_id = "client" }\ndate_format = "%Q"\n',
        "date_format '%Q' is not a date format",
    ),
    "a status id that is not a number": (
        "m.toml",
        '[options]\nsuccess_status_id = "ok"\n',
        "success_status_id must be a whole number",
    ),
    "a placeholder that is not a date": (
        "m.toml",
        '[options]\nplaceholder_birth_date = "1970-13-01"\n',
        "placeholder_birth_date must be a date",
    ),
    "bytes that are not UTF-8": (
        "m.toml",
        '[customers]\nfile = "cli\udce9nts.csv"\n',
        "bytes that are not UTF-8",
    ),
    "a list at the top": ("m.json", "[1, 2]", "expected a table of tables"),
    "another suffix": ("m.yaml", "customers: {}\n", "must end in .json or .toml"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_an_invalid_mapping_is_one_line_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    name, text, fragment = INVALID[case]
    (tmp_path / "clients.csv").write_text(_CLIENTS)
    mapping = tmp_path / name
    mapping.write_bytes(text.encode("utf-8", "surrogateescape"))
    code = main(["customers", "report", str(tmp_path), "--out", str(tmp_path / "out"),
                 "--mapping", str(mapping), "--no-clv"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("error: ") and fragment in err, err
    assert str(mapping) in err or str(tmp_path / "clients.csv") in err, err
    assert not (tmp_path / "out").exists()


_VALID_TOML = (
    '[options]\nplaceholder_birth_date = "1970-01-01"\nsuccess_status_id = 1\n\n'
    '[customers]\nfile = "clients.csv"\n'
    'columns = { customer_id = "client", gender = "sex", birth_date = "born" }\n'
    'date_format = "%Y-%m-%d"\nvalues.gender = { H = "male", F = "female" }\n'
)
_VALID_JSON = json.dumps(
    {
        "options": {"no_campaign_id": 0},
        "customers": {
            "file": "clients.csv",
            "columns": {"customer_id": "client", "gender": "sex", "birth_date": "born"},
            "values": {"gender": {"H": "male"}},
        },
    }
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    base=st.sampled_from([("m.toml", _VALID_TOML), ("m.json", _VALID_JSON)]),
    cut=st.integers(0, 400),
    insert=st.text(alphabet="{}[]=\"',:5% \n\\x\u00e9", max_size=4),
)
def test_any_edit_of_a_mapping_is_a_mapping_or_an_input_error(
    tmp_path_factory: pytest.TempPathFactory, base: tuple[str, str], cut: int, insert: str
) -> None:
    name, text = base
    edited = text[:cut] + insert + text[cut + len(insert) :]
    assume(edited != text)
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "clients.csv").write_text(_CLIENTS)
    (folder / name).write_text(edited)
    try:
        load_customer_data(folder, folder / name, connect(threads=1))
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc).strip()
