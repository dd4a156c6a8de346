"""Every ``python`` code block of docs/guide/python-api.md runs, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

PAGE = Path(__file__).parents[2] / "docs" / "guide" / "python-api.md"


def test_python_api_page_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)
    assert len(blocks) >= 4
    namespace: dict[str, object] = {}
    for number, block in enumerate(blocks, start=1):
        code = compile(block, f"{PAGE.name} block {number}", "exec")
        exec(code, namespace)  # noqa: S102 - our own documentation, run as a test
    assert Path(str(namespace["outcome"].report_path)).exists()  # type: ignore[attr-defined]
