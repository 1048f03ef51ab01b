"""Parameter counts (spec §3), configs, the matched GPT-2 rule and `model info`."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from symboliclight.model.build import build_model, count_params, param_breakdown, symboliclight_param_count
from symboliclight.model.config import GPT2Config, SymbolicLightConfig, load_model_config
from symboliclight.model.gpt2 import gpt2_param_count, matched_gpt2_config
from symboliclight.pipeline.errors import UserError

SPEC_COUNTS = [
    ("194m", [], 194_016_924),
    ("0.8b", [], 873_668_135),
    ("194m", ["dynamic_prior=false"], 184_701_468),
    ("194m", ["attention=false"], 172_783_248),
    ("194m", ["attention=false", "dynamic_prior=false"], 163_467_792),
    ("194m", ["encoder_mask=topk"], 194_016_924),
]


@pytest.mark.parametrize("name,overrides,expected", SPEC_COUNTS)
def test_parameter_counts_match_spec(name, overrides, expected):
    cfg = load_model_config(name, overrides)
    model = build_model(cfg, device="meta")
    assert count_params(model) == expected
    assert symboliclight_param_count(cfg) == expected


def test_spec_breakdown_194m():
    model = build_model(load_model_config("194m"), device="meta")
    top = param_breakdown(model, depth=1)
    assert top["embed"] == 36_864_000
    assert top["blocks"] == 12 * 9_243_661
    assert top["encoder"] == 2 * 768
    fine = param_breakdown(model)
    assert fine["head.unembed"] == 36_864_000
    assert fine["head.prior_in"] + fine["head.prior_out"] == 9_363_456
    # the 194M release's prior weight is a constant, not a parameter
    assert "head.prior_weight" not in fine
    assert "head.prior_weight" in param_breakdown(build_model(load_model_config("0.8b"), device="meta"))


@pytest.mark.parametrize("overrides", [[], ["decay=false"], ["attention=false"], ["dynamic_prior=false"],
                                       ["learnable_prior_weight=true", "decay=false"]])
def test_closed_form_equals_module_count(overrides):
    for name in ("tiny", "194m"):
        cfg = load_model_config(name, overrides)
        assert symboliclight_param_count(cfg) == count_params(build_model(cfg, device="meta"))


def test_topk_k_values():
    assert load_model_config("194m").topk == 84
    assert load_model_config("0.8b").topk == 168


def test_gpt2_counts():
    cfg = load_model_config("gpt2-124m")
    assert isinstance(cfg, GPT2Config)
    assert count_params(build_model(cfg, device="meta")) == gpt2_param_count(cfg) == 122_706_432
    stock = GPT2Config(vocab_size=50257)  # GPT-2 small with its own vocabulary and 1024 positions
    assert count_params(build_model(stock, device="meta")) == 124_439_808
    untied = GPT2Config(tie_embeddings=False, bias=False, n_layer=3)
    assert count_params(build_model(untied, device="meta")) == gpt2_param_count(untied)


@pytest.mark.parametrize("name", ["194m", "0.8b"])
def test_matched_gpt2_within_two_percent(name):
    sl = load_model_config(name)
    g = matched_gpt2_config(sl)
    target = symboliclight_param_count(sl)
    assert abs(count_params(build_model(g, device="meta")) - target) / target <= 0.02
    assert g.vocab_size == sl.vocab_size and g.n_embd == sl.embed_dim and not g.tie_embeddings


def test_matched_gpt2_tiny_is_the_closest_width_and_depth():
    sl = load_model_config("tiny")
    g = matched_gpt2_config(sl)
    target = symboliclight_param_count(sl)
    gap = abs(gpt2_param_count(g) - target)
    for width in range(64, 257, 64):
        for depth in range(1, 8):
            other = GPT2Config(vocab_size=sl.vocab_size, n_layer=depth, n_head=width // 64, n_embd=width,
                               block_size=sl.max_seq_len, tie_embeddings=False)
            assert gap <= abs(gpt2_param_count(other) - target)


def test_config_errors_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="unknown key"):
        load_model_config("tiny", ["windw=3"])
    with pytest.raises(UserError, match="both be off"):
        load_model_config("tiny", ["attention=false", "decay=false"])
    with pytest.raises(UserError, match="unknown model config"):
        load_model_config("no-such-model")
    with pytest.raises(UserError, match="divisible"):
        load_model_config("tiny", ["n_heads=3"])
    bad = tmp_path / "m.yaml"
    bad.write_text("arch: symboliclight\nencoder_mask: random\n")
    with pytest.raises(UserError, match="encoder_mask"):
        load_model_config(bad)
    good = tmp_path / "g.yaml"
    good.write_text("arch: gpt2\nn_layer: 2\nn_embd: 64\nn_head: 2\nvocab_size: 100\nblock_size: 32\n")
    assert isinstance(load_model_config(good), GPT2Config)
    assert isinstance(load_model_config("tiny"), SymbolicLightConfig)


def _run_cli(argv: list[str]) -> tuple[int, str]:
    from symboliclight.dags.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(argv)
    return code, buf.getvalue()


def test_model_info_json():
    code, out = _run_cli(["model", "info", "194m", "--json"])
    assert code == 0
    info = json.loads(out)
    assert info["params"] == 194_016_924
    assert sum(info["modules"].values()) == info["params"]
    assert sum(info["breakdown"].values()) == info["params"]
    assert info["params_per_block"] == 9_243_661


def test_model_info_overrides_and_matched():
    code, out = _run_cli(["model", "info", "194m", "--set", "attention=false", "--matched-gpt2", "--json"])
    assert code == 0
    info = json.loads(out)
    assert info["params"] == 172_783_248 and info["variant"]["attention"] is False
    assert abs(info["matched_gpt2"]["relative_gap"]) <= 0.02
    assert _run_cli(["model", "info", "194m", "--set", "bogus=1"])[0] == 2
