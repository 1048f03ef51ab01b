"""Clean-stage run-time pieces: LID skips fastText where its label is discarded, the funnel chart is
drawn without matplotlib and byte-stable, and the executor's "auto" start method."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from clean_fixtures import code_docs, english_docs
from PIL import Image
from symboliclight.pipeline.errors import UserError
from symboliclight.pipeline.stages import get_stage
from symboliclight.pipeline.stages.executors import resolve_start_method
from symboliclight.pipeline.stages.funnel import write_funnel
from symboliclight.pipeline.stages.langid import LanguageIdentifier, looks_like_code, script_counts
from symboliclight.pipeline.stages.runner import load_stage_config


def test_code_shaped_latin_text_never_loads_fasttext():
    lid_cfg = load_stage_config(get_stage("clean")).lid
    lid = LanguageIdentifier(lid_cfg)
    codes = [t for t in code_docs() if looks_like_code(t, lid_cfg.code_min_lines)]
    codes = [t for t in codes if (lambda h, la, k: la and h / (h + la + k) <= lid_cfg.en_max_han)(*script_counts(t))]
    assert codes, "fixture has no code-shaped Latin documents"
    for t in codes:
        r = lid.identify(t, "tech-en", "en")
        assert (r.lang, r.label, r.score) == ("code", "code", 1.0)
    assert lid._model is None  # the verdict came from line shapes alone
    # prose still goes to fastText, and gets its label
    prose = next(t for t in english_docs() if not looks_like_code(t, lid_cfg.code_min_lines))
    r = lid.identify(prose, "tech-en", "en")
    assert lid._model is not None and r.lang == "en" and r.label == "en" and 0 < r.score <= 1


def _chain(n_stages: int) -> list[dict]:
    domains = ["news", "tech-en", "math", "code"]
    return [{"stage": f"s{k}", "version": f"{k:012d}",
             "counts": {"per_domain": {d: {"documents": (j + 1) * 10 ** (3 - k) * (d != "math" or k == 0),
                                           "characters": (j + 1) * 10 ** (6 - k)} for j, d in enumerate(domains)}}}
            for k in range(n_stages)]


def test_funnel_png_is_byte_stable_and_draws_every_bar(tmp_path: Path):
    a = write_funnel(_chain(3), tmp_path / "a.png")
    b = write_funnel(_chain(3), tmp_path / "b.png")
    assert a.read_bytes() == b.read_bytes()
    img = Image.open(a).convert("RGB")
    assert img.width >= 480 and img.height > 400
    colours = {c for _, c in img.getcolors(1 << 20)}
    # one bar colour per stage (tab10's first three)
    assert {(0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E), (0x2C, 0xA0, 0x2C)} <= colours
    c = write_funnel(_chain(2), tmp_path / "c.png")
    assert (0x2C, 0xA0, 0x2C) not in {col for _, col in Image.open(c).convert("RGB").getcolors(1 << 20)}
    # an empty lineage still gives a chart
    assert write_funnel([{"stage": "x", "version": "0" * 12, "counts": {}}], tmp_path / "d.png").stat().st_size > 500


def test_auto_start_method_forks_only_without_other_threads():
    assert resolve_start_method("spawn") == "spawn"
    with pytest.raises(UserError):
        resolve_start_method("teleport")
    if threading.active_count() == 1:
        assert resolve_start_method("auto") == "fork"
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    t.start()
    try:
        assert resolve_start_method("auto") == "forkserver"
    finally:
        stop.set()
        t.join()
