"""Training runs on real shards: exact resume, guards, config errors, checkpoints, the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from symboliclight.model.checkpointing import list_checkpoints, load_checkpoint_file, resolve_resume
from symboliclight.model.train import prepare_run, run_fit
from symboliclight.pipeline.errors import UserError
from train_fixtures import build_train_shards, small_config, step_losses


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    return build_train_shards(tmp_path_factory.mktemp("train-data"))


@pytest.fixture(scope="module")
def full_run(shards, tmp_path_factory) -> Path:
    """8 optimiser steps of 2 accumulated micro-batches, uninterrupted; validation every 4 steps."""
    out = tmp_path_factory.mktemp("full")
    cfg = small_config(shards, "trainer.max_steps=8", "trainer.accumulate_grad_batches=2",
                       "trainer.ckpt_every_n_steps=4", "trainer.val_every_n_steps=4",
                       "schedule.decay_steps=8")
    run_fit(prepare_run(cfg, out=out))
    return out


def test_resume_gives_identical_per_step_losses(shards, full_run, tmp_path):
    # Same run stopped after 4 steps (its last checkpoint), then resumed to 8 in a fresh module.
    cfg4 = small_config(shards, "trainer.max_steps=4", "trainer.accumulate_grad_batches=2",
                        "trainer.ckpt_every_n_steps=4", "trainer.val_every_n_steps=4",
                       "schedule.decay_steps=8")
    run_fit(prepare_run(cfg4, out=tmp_path), report=False)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000004.ckpt"]
    cfg8 = small_config(shards, "trainer.max_steps=8", "trainer.accumulate_grad_batches=2",
                        "trainer.ckpt_every_n_steps=4", "trainer.val_every_n_steps=4",
                       "schedule.decay_steps=8")
    run_fit(prepare_run(cfg8, out=tmp_path, resume="auto"), report=False)
    full, resumed = step_losses(full_run), step_losses(tmp_path)
    assert sorted(full) == list(range(1, 9))
    assert sorted(resumed) == list(range(1, 9))
    assert all(full[s] == resumed[s] for s in range(1, 9)), (full, resumed)  # exact, CPU fp32
    # ... and the weights end identical too.
    a = load_checkpoint_file(full_run / "step-00000008.ckpt")["state_dict"]
    b = load_checkpoint_file(tmp_path / "step-00000008.ckpt")["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_checkpoint_contents_load_with_weights_only(full_run):
    ckpt = torch.load(full_run / "step-00000008.ckpt", weights_only=True, map_location="cpu")
    meta = ckpt["symboliclight"]
    assert ckpt["global_step"] == 8
    assert ckpt["optimizer_states"] and ckpt["lr_schedulers"][0]["last_epoch"] == 8
    assert ckpt["ShardsDataModule"]["windows_consumed"] == 8 * 2 * 4  # steps x accumulation x batch
    assert meta["tokens_seen"] == 8 * 2 * 4 * 32
    assert meta["config"]["trainer"]["max_steps"] == 8 and len(meta["rng"]) == 1
    assert [p.name for p in list_checkpoints(full_run)] == ["step-00000004.ckpt", "step-00000008.ckpt"]


def test_corrupted_checkpoint_names_the_previous_one(full_run, tmp_path):
    for p in list_checkpoints(full_run):
        (tmp_path / p.name).write_bytes(p.read_bytes())
    newest = tmp_path / "step-00000008.ckpt"
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    newest.write_bytes(bytes(data))
    with pytest.raises(UserError) as e:
        resolve_resume(tmp_path, "auto")
    msg = str(e.value)
    assert "\n" not in msg and "step-00000008.ckpt" in msg and "step-00000004.ckpt" in msg
    assert resolve_resume(tmp_path, str(tmp_path / "step-00000004.ckpt")).name == "step-00000004.ckpt"
    newest.write_bytes(bytes(data[: len(data) // 3]))  # truncated
    with pytest.raises(UserError, match="corrupted"):
        resolve_resume(tmp_path, "auto")


def test_metrics_and_report(full_run):
    text = (full_run / "report.md").read_text()
    assert (full_run / "loss.png").stat().st_size > 1000 and (full_run / "sparsity.png").stat().st_size > 1000
    assert "| code |" in text and "val/sparsity/global" in text
    report = json.loads((full_run / "report.json").read_text())
    assert report["steps"] == 8 and report["tokens"] == 8 * 2 * 4 * 32
    val = report["val"]
    domains = [k for k in val if k.endswith("/loss") and k != "val/loss"]
    assert len(domains) >= 4 and all(0 < val[k] < 10 for k in domains)
    from symboliclight.model.run_logging import read_metrics

    m = read_metrics(full_run)
    for key in ("train/lr", "train/grad_norm", "train/tokens", "perf/tokens_per_s", "perf/step_time_s",
                "perf/data_wait_share", "sparsity/global", "sparsity/L0/encoder", "sparsity/L2/ffn_hidden",
                "sparsity/dead_frac", "sparsity/always_on_frac", "val/loss", "val/code/ppl"):
        assert key in m, key
    assert m["train/tokens"][8] == 8 * 2 * 4 * 32
    assert m["train/lr"][2] == pytest.approx(3.0e-3)  # end of the 2-step warmup: the peak
    assert all(0.0 < v < 1.0 for v in m["sparsity/global"].values())
    assert (full_run / "tensorboard").is_dir() and any((full_run / "tensorboard").iterdir())


def test_nonfinite_loss_never_reaches_the_optimiser(shards, tmp_path):
    cfg = small_config(shards, "trainer.max_steps=5", "trainer.max_skipped_steps=3", "trainer.val_every_n_steps=0",
                       "trainer.val_at_end=false", "trainer.ckpt_every_n_steps=0")
    plan = prepare_run(cfg, out=tmp_path)
    import symboliclight.model.train as train_mod

    seen: dict = {}
    original = train_mod.LanguageModelModule.configure_optimizers

    def poisoned(self):
        with torch.no_grad():
            self.net.encoder.norm.weight.fill_(float("nan"))  # every forward is now NaN
        seen["before"] = {k: v.clone() for k, v in self.net.state_dict().items()}
        seen["module"] = self
        return original(self)

    train_mod.LanguageModelModule.configure_optimizers = poisoned
    try:
        with pytest.raises(UserError, match="3 consecutive steps had a non-finite loss"):
            run_fit(plan, report=False)
    finally:
        train_mod.LanguageModelModule.configure_optimizers = original
    module = seen["module"]
    after = module.net.state_dict()
    assert all(torch.equal(seen["before"][k], after[k]) or torch.isnan(after[k]).all() for k in after)
    assert module.skipped_steps == 3
    opt = module.trainer.optimizers[0]
    assert not opt.state  # AdamW never took a step: no moments exist


def test_loss_spike_guard_reloads_and_lowers_the_peak(shards, tmp_path):
    # Threshold 1.0 nat: every post-warmup step "spikes" (real losses are ~6-7), so the guard reloads the
    # newest checkpoint with a halved peak each time, down to the floor, then gives up.
    cfg = small_config(shards, "trainer.max_steps=6", "trainer.ckpt_every_n_steps=2", "trainer.val_every_n_steps=0",
                       "trainer.val_at_end=false", "schedule.warmup_steps=2", "guard.enabled=true",
                       "guard.threshold=1.0", "guard.max_restarts=3")
    with pytest.raises(UserError, match="loss spiked 4 times"):
        run_fit(prepare_run(cfg, out=tmp_path), report=False)
    events = [json.loads(line) for line in (tmp_path / "guard_events.jsonl").read_text().splitlines()]
    assert [e["new_lr_scale"] for e in events] == [0.5, 0.25, 0.125]
    assert all(e["step"] == 2 and e["resume_from"].endswith("step-00000002.ckpt") for e in events)
    ckpt = load_checkpoint_file(tmp_path / "step-00000002.ckpt")
    assert ckpt["global_step"] == 2  # the exploded state was never checkpointed


def test_config_errors_fail_before_work(shards, tmp_path, capsys):
    from symboliclight.dags.cli import main

    base = ["train", "--config", "tiny-cpu", "--shards", str(shards), "--out", str(tmp_path / "r")]
    cases = [(["--set", "trainer.bogus=1"], "unknown key 'bogus'"),
             (["--set", "optim.lr=fast"], "expected a number"),
             (["--set", "model.vocab_from_shards=false"], "vocabulary mismatch"),
             (["--trainer.precision", "bf16-mixed"], "needs a GPU"),
             (["--set", "data.seq_len=4096"], "exceeds the model's context")]
    for extra, needle in cases:
        assert main(base + extra) == 2
        err = capsys.readouterr().err.strip()
        assert needle in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_validate_mode_reports_the_checkpoint(shards, full_run, capsys):
    from symboliclight.dags.cli import main
    from train_fixtures import SMALL_RUN

    ckpt = full_run / "step-00000008.ckpt"
    rc = main(["train", "validate", "--config", "tiny-cpu", "--shards", str(shards), "--out", str(full_run),
               "--resume", str(ckpt), "--json", "--set", *SMALL_RUN])
    assert rc == 0
    out = capsys.readouterr().out
    result = json.loads(out[out.index("{"):])
    report = json.loads((full_run / "report.json").read_text())
    assert result["val/loss"] == pytest.approx(report["val"]["val/loss"], rel=1e-6)
    assert 0.0 < result["val/sparsity/global"] < 1.0


def test_resume_inside_a_logging_window_logs_the_uninterrupted_mean(shards, tmp_path):
    """train/loss and the sparsity are pooled over `log_every_n_steps` steps; a checkpoint inside a
    window carries the window's losses and spike counts, so the resumed run logs the uninterrupted
    run's values at every logged step."""
    common = ["trainer.log_every_n_steps=4", "trainer.ckpt_every_n_steps=2", "trainer.val_every_n_steps=100",
              "schedule.decay_steps=6"]
    run_fit(prepare_run(small_config(shards, "trainer.max_steps=6", *common), out=tmp_path / "full"), report=False)
    run_fit(prepare_run(small_config(shards, "trainer.max_steps=2", *common), out=tmp_path / "cut"), report=False)
    run_fit(prepare_run(small_config(shards, "trainer.max_steps=6", *common), out=tmp_path / "cut", resume="auto"),
            report=False)
    from symboliclight.model.run_logging import read_metrics

    full, cut = read_metrics(tmp_path / "full"), read_metrics(tmp_path / "cut")
    for key in ("train/loss", "train/grad_norm_mean", "sparsity/global", "sparsity/dead_frac"):
        resumed = {s: v for s, v in cut[key].items() if s != 2}  # step 2: the cut run's own last log
        assert sorted(full[key]) == [4, 6], key
        assert resumed == full[key], key
    state = load_checkpoint_file(tmp_path / "cut" / "step-00000002.ckpt")["callbacks"]
    assert any(len(v.get("losses", [])) == 2 for v in state.values())  # steps 1 and 2 of the window
    torch.load(tmp_path / "cut" / "step-00000002.ckpt", weights_only=True, map_location="cpu")


def test_train_resume_check_compares_runs(full_run, tmp_path):
    """bench/train_resume_check.py (the GPU check's resume report) on real runs: a run against itself
    is identical; against a shorter run, only the shared steps are compared."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "bench" / "train_resume_check.py"
    spec = importlib.util.spec_from_file_location("train_resume_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    same = module.compare(full_run, full_run)
    assert same["identical"] and same["steps_compared"] == list(range(1, 9)) and same["max_abs_loss_diff"] == 0
    assert same["params"] > 0 and same["tokens_per_s"]
    assert module.main([str(full_run), str(tmp_path), "--json", str(tmp_path / "r.json")]) == 1  # nothing shared


def test_progress_lines_without_the_bar(shards, tmp_path, capsys):
    """With the bar off, the run prints `progress_lines` one-line reports, the last at max_steps."""
    cfg = small_config(shards, "trainer.max_steps=8", "trainer.progress_lines=4", "trainer.val_every_n_steps=0")
    run_fit(prepare_run(cfg, out=tmp_path), report=False)
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("train: step")]
    assert [ln.split()[2] for ln in lines] == ["2/8", "4/8", "6/8", "8/8"]
    assert all("loss" in ln and "tok/s" in ln and "eta" in ln for ln in lines)


def test_cosmetic_trainer_settings_keep_the_run_version(shards):
    """The progress display is not part of a run's identity; a real setting is."""
    from symboliclight.dags.graph import train_identity

    base = train_identity(small_config(shards))
    assert train_identity(small_config(shards, "trainer.progress_bar=true", "trainer.progress_lines=3")) == base
    assert train_identity(small_config(shards, "trainer.max_steps=9")) != base
