"""The stage graph: versions known before running, skipping of finished versions, and a config change
re-running exactly the stages downstream of it (on a tiny real corpus, up to the tokenizer)."""

from __future__ import annotations

import json

import pytest
from dags_fixtures import manifest, run_in_process, shared_tiny_run, statuses, tiny_run_config, write_config
from symboliclight.dags.cli import main
from symboliclight.dags.graph import build_graph
from symboliclight.dags.run_config import load_run_config

ALL = ["corpus", "clean", "dedup", "balance", "tokenizer", "shards", "train", "eval"]
CORPUS_STAGES = ["clean", "dedup", "balance"]


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """A tiny corpus run through the graph up to the tokenizer (once per session)."""
    return shared_tiny_run(tmp_path_factory)


def _plan(config_path, workdir):
    return {p.node.name: p for p in build_graph(load_run_config(config_path), workdir).plan(workdir)}


def test_graph_shape_until_and_descendants(ran):
    graph = build_graph(load_run_config(ran["config"]), ran["workdir"])
    assert graph.names == ALL
    assert graph.ancestors("tokenizer") == ["corpus", "clean", "dedup", "balance", "tokenizer"]
    assert graph.ancestors("eval") == ALL
    assert graph.descendants("tokenizer") == ["tokenizer", "shards", "train", "eval"]
    assert graph.descendants("clean") == ALL[1:]
    assert graph.node("shards").parents == ("balance", "tokenizer")


def test_predicted_versions_are_the_versions_written(ran):
    plan = _plan(ran["config"], ran["workdir"])
    assert [r.stage for r in ran["records"]] == ALL[:5]
    assert statuses(ran["records"]) == {"corpus": "cached", **{s: "done" for s in CORPUS_STAGES}, "tokenizer": "done"}
    for r in ran["records"][1:]:
        m = manifest(plan[r.stage].path)
        assert m["version"] == r.version == plan[r.stage].version
        assert plan[r.stage].done
    # each stage's recorded parent is the graph's parent version
    assert manifest(plan["clean"].path)["parents"] == {"corpus": plan["corpus"].version}
    assert manifest(plan["tokenizer"].path)["parents"] == {"corpus": plan["balance"].version}
    assert not plan["shards"].done and not plan["train"].done


def test_unchanged_rerun_is_a_no_op(ran):
    before = {s: (ran["workdir"] / "corpus" / r.version / "manifest.json").stat().st_mtime_ns
              for s, r in zip(CORPUS_STAGES, ran["records"][1:4], strict=True)}
    again = run_in_process(ran["config"], ran["workdir"], until="tokenizer")
    assert set(statuses(again).values()) == {"cached"}
    after = {s: (ran["workdir"] / "corpus" / r.version / "manifest.json").stat().st_mtime_ns
             for s, r in zip(CORPUS_STAGES, ran["records"][1:4], strict=True)}
    assert before == after


def test_tokenizer_change_reruns_tokenizer_and_downstream_only(ran, capsys):
    old = _plan(ran["config"], ran["workdir"])
    cfg = tiny_run_config(ran["corpus"], tokenizer={"overrides": {"vocab_size": 420}})
    changed = write_config(ran["root"] / "run-vocab420.yaml", cfg)
    new = _plan(changed, ran["workdir"])
    for s in ["corpus", *CORPUS_STAGES]:
        assert new[s].version == old[s].version and new[s].done
    for s in ["tokenizer", "shards", "train", "eval"]:
        assert new[s].version != old[s].version and not new[s].done

    # the dry run says the same, and writes nothing
    assert main(["run", "--config", str(changed), "--workdir", str(ran["workdir"]), "--dry-run", "--json"]) == 0
    rows = {r["stage"]: r for r in json.loads(capsys.readouterr().out)}
    assert {s: rows[s]["status"] for s in ALL} == {**{s: "done" for s in ["corpus", *CORPUS_STAGES]},
                                                   **{s: "run" for s in ["tokenizer", "shards", "train", "eval"]}}
    assert rows["tokenizer"]["config"]["vocab_size"] == 420
    assert not new["tokenizer"].path.exists()

    mtimes = {s: (new[s].path / "manifest.json").stat().st_mtime_ns for s in CORPUS_STAGES}
    records = run_in_process(changed, ran["workdir"], until="tokenizer")
    assert statuses(records) == {"corpus": "cached", "clean": "cached", "dedup": "cached", "balance": "cached",
                                 "tokenizer": "done"}
    assert {s: (new[s].path / "manifest.json").stat().st_mtime_ns for s in CORPUS_STAGES} == mtimes
    assert manifest(new["tokenizer"].path)["config"]["vocab_size"] == 420
    assert old["tokenizer"].done  # the earlier version stays, untouched


def test_clean_change_reruns_from_clean_but_keeps_the_corpus(ran):
    old = _plan(ran["config"], ran["workdir"])
    cfg = tiny_run_config(ran["corpus"], pipeline={"clean": {"min_chars": 5}})
    new = _plan(write_config(ran["root"] / "run-clean.yaml", cfg), ran["workdir"])
    assert new["corpus"].version == old["corpus"].version
    assert all(new[s].version != old[s].version for s in ALL[1:])


def test_dry_run_table_lists_every_stage_with_its_version(ran, capsys):
    assert main(["run", "--config", str(ran["config"]), "--workdir", str(ran["workdir"]), "--dry-run"]) == 0
    out = capsys.readouterr().out
    plan = _plan(ran["config"], ran["workdir"])
    lines = {line.split()[0]: line.split() for line in out.splitlines()[1:len(ALL) + 1]}
    for s in ALL:
        assert lines[s][1] == plan[s].version
        assert lines[s][2] == ("done" if s in ALL[:5] else "run")
    assert "3 of 8 stages to run: shards, train, eval" in out


def test_node_needs_finished_inputs_and_errors_are_one_line(ran, tmp_path, capsys):
    workdir = tmp_path / "empty"
    assert main(["run", "--config", str(ran["config"]), "--workdir", str(workdir), "--node", "dedup"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: stage dedup: input clean") and "\n" not in err
    assert main(["run", "--config", str(ran["config"]), "--workdir", str(workdir), "--until", "nope", "--dry-run"]) == 2
    assert "unknown stage 'nope'" in capsys.readouterr().err
    bad = write_config(tmp_path / "bad.yaml", {**ran["cfg"], "tokenizr": {}})
    assert main(["run", "--config", str(bad), "--workdir", str(workdir), "--dry-run"]) == 2
    assert "unknown key 'tokenizr'" in capsys.readouterr().err
    assert main(["run", "--config", str(ran["config"]), "--workdir", str(workdir), "--dry-run",
                 "--set", "stages=[clean,sort]"]) == 2
    assert "unknown data stage 'sort'" in capsys.readouterr().err
