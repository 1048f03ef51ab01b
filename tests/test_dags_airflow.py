"""The Airflow DAG built from the graph: its tasks and edges are the graph's, and Airflow's own local
test runner (`dag.test()`) runs it on a tiny corpus to the same artifacts as `symboliclight run`.
Skipped where Apache Airflow is not installed (it is an optional dependency)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap

import pytest
from dags_fixtures import manifest, run_in_process, statuses, tiny_corpus, tiny_run_config, write_config
from symboliclight.dags.graph import build_graph
from symboliclight.dags.run_config import load_run_config

pytest.importorskip("airflow", reason="Apache Airflow is optional: pip install apache-airflow")


def _airflow_env(home) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"), "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
                "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
    return env


def test_dag_tasks_and_edges_are_the_graph(tmp_path):
    from symboliclight.dags.airflow_dag import build_dag

    cfg = write_config(tmp_path / "run.yaml", tiny_run_config(tiny_corpus(tmp_path / "in")))
    graph = build_graph(load_run_config(cfg), tmp_path / "w")
    dag = build_dag(cfg, tmp_path / "w", dag_id="sl_shape")
    assert sorted(dag.task_ids) == sorted(graph.names)
    for node in graph.nodes:
        assert set(dag.get_task(node.name).upstream_task_ids) == set(node.parents)
    small = build_dag(cfg, tmp_path / "w", dag_id="sl_until", until="tokenizer")
    assert sorted(small.task_ids) == sorted(graph.ancestors("tokenizer"))


def test_airflow_dag_test_runs_the_graph_like_symboliclight_run(tmp_path):
    corpus = tiny_corpus(tmp_path / "in")
    cfg = write_config(tmp_path / "run.yaml", tiny_run_config(corpus))
    home = tmp_path / "airflow"
    (home / "dags").mkdir(parents=True)
    workdir = tmp_path / "w-airflow"
    dag_file = home / "dags" / "symboliclight_dag.py"
    dag_file.write_text(textwrap.dedent(f"""
        from symboliclight.dags.airflow_dag import build_dag
        dag = build_dag(config={str(cfg)!r}, workdir={str(workdir)!r}, dag_id="symboliclight_test")
        if __name__ == "__main__":
            run = dag.test()
            print("DAGRUN_STATE", run.state)
        """), encoding="utf-8")
    env = _airflow_env(home)
    migrate = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True)
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    proc = subprocess.run([sys.executable, str(dag_file)], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0 and "DAGRUN_STATE success" in proc.stdout, (proc.stdout + proc.stderr)[-4000:]

    # every node finished at the version the graph predicts: `symboliclight run` finds nothing to do
    plan = build_graph(load_run_config(cfg), workdir).plan(workdir)
    assert all(p.done for p in plan)
    assert set(statuses(run_in_process(cfg, workdir)).values()) == {"cached"}
    ev = manifest(plan[-1].path)
    assert ev["parents"] == {"train": plan[-2].version, "shards": plan[-3].version}
    assert ev["counts"]["ppl"] == pytest.approx(math.exp(ev["counts"]["loss"]), rel=1e-9)
    assert ev["counts"]["tokens"] > 0
