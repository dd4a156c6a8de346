"""A model folder is data, never code: re-signed manifests that point outside the folder or
claim another format version are refused, and nothing in a folder is ever executed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from couponlens.models.artifact import ModelFileError, _content_digest, load_model, save_model


def _resign(folder: Path, edit: dict[str, object]) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.update(edit)
    manifest["manifest_sha256"] = _content_digest(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_paths_escaping_the_folder_are_refused(trained, tmp_path: Path) -> None:
    folder = save_model(trained.model, tmp_path / "model")
    (tmp_path / "outside.txt").write_text("secret")
    manifest = json.loads((folder / "manifest.json").read_text())
    files = dict(manifest["files"]) | {"../outside.txt": "0" * 64}
    _resign(folder, {"files": files})
    with pytest.raises(ModelFileError, match="not a plain file name"):
        load_model(folder)


def test_incompatible_format_version_is_refused(trained, tmp_path: Path) -> None:
    folder = save_model(trained.model, tmp_path / "model")
    _resign(folder, {"format_version": 999})
    with pytest.raises(ModelFileError, match="format version 999 is not supported"):
        load_model(folder)


def test_a_folder_holds_only_text_and_json(trained, tmp_path: Path) -> None:
    folder = save_model(trained.model, tmp_path / "model")
    for file in folder.iterdir():
        head = file.read_bytes()[:2]
        assert head != b"\x80\x04" and head[:1] != b"\x80", f"{file.name} looks like a pickle"
        file.read_text(encoding="utf-8")  # every file is text
