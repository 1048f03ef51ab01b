"""The stage graph as an Apache Airflow DAG (optional dependency: `pip install apache-airflow`).

One Airflow task per graph node, wired by the graph's own parent lists; each task runs exactly its
node through the same code as `symboliclight run --node NAME`, so versions, skipping of finished
artifacts and resume behave as on the command line (a retried task resumes its stage). Put a file
like this in Airflow's dags folder:

    from symboliclight.dags.airflow_dag import build_dag
    dag = build_dag(config="/data/run.yaml", workdir="/data/work")

Data stages may use `executor.kind: ray` (a Ray cluster) or `local` inside the task; `slurm` is
refused here, since the stage would only be queued when the Airflow task ends (run the graph with
`symboliclight run --executor slurm` instead).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from symboliclight.pipeline.errors import UserError

from .execute import records_json, run_graph, select
from .graph import build_graph
from .run_config import default_run_config_path, load_run_config


def _airflow() -> tuple[Any, Any]:
    try:
        from airflow.sdk import DAG  # Airflow 3
    except ImportError:
        try:
            from airflow import DAG  # Airflow 2
        except ImportError:
            raise UserError("the Airflow DAG needs Apache Airflow: pip install apache-airflow") from None
    try:
        from airflow.providers.standard.operators.python import PythonOperator
    except ImportError:
        from airflow.operators.python import PythonOperator  # Airflow 2 without the standard provider
    return DAG, PythonOperator


def run_task(config: str, workdir: str, node: str, overrides: list[str] | None = None,
             size_mb: float | None = None) -> list[dict[str, Any]]:
    """Body of one Airflow task: run one node of the graph (a no-op when its version is finished).
    Returns the stage record (Airflow keeps it as the task's XCom)."""
    cfg = load_run_config(config, overrides, size_mb=size_mb)
    graph = build_graph(cfg, workdir)
    if graph.node(node).datatrove and (cfg.executor.get("kind") == "slurm"):
        raise UserError("executor 'slurm' inside Airflow would only queue the stage; use local or ray here")
    return records_json(run_graph(graph, workdir, only=node, progress=False))


def build_dag(config: str | Path | None = None, workdir: str | Path = "work", *, dag_id: str = "symboliclight",
              until: str | None = None, overrides: list[str] | None = None, size_mb: float | None = None,
              **dag_kwargs: Any) -> Any:
    """An Airflow DAG of the graph defined by the run config (`until`: that stage and its inputs)."""
    DAG, PythonOperator = _airflow()
    config = str(Path(config).resolve() if config else default_run_config_path())
    workdir = str(Path(workdir).resolve())
    graph = build_graph(load_run_config(config, overrides, size_mb=size_mb), workdir)
    selected = select(graph, until)
    dag_kwargs.setdefault("schedule", None)
    dag_kwargs.setdefault("catchup", False)
    dag_kwargs.setdefault("tags", ["symboliclight"])
    with DAG(dag_id=dag_id, **dag_kwargs) as dag:
        tasks: dict[str, Any] = {}
        for node in graph.nodes:
            if node.name not in selected:
                continue
            tasks[node.name] = PythonOperator(
                task_id=node.name, python_callable=run_task,
                op_kwargs={"config": config, "workdir": workdir, "node": node.name,
                           "overrides": list(overrides or []), "size_mb": size_mb})
            for parent in node.parents:
                tasks[parent] >> tasks[node.name]
    return dag
