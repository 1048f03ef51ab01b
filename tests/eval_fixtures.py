"""Trained tiny checkpoints and hand-written task files for the evaluation tests.

The shards and tokenizer are the training tests' (`train_fixtures.build_train_shards`: real text,
a real ~1000-piece BPE); checkpoints come from a few real optimiser steps of `symboliclight train`'s
own driver. Everything is built once per test session under pytest's base temp directory (a build
is reused when its final file exists), so several test modules share it.
"""

from __future__ import annotations

import json
from pathlib import Path

from train_fixtures import build_train_shards, small_config

STEPS = 40


def shared_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.getbasetemp() / "eval-shared"
    root.mkdir(parents=True, exist_ok=True)
    return root


def shards_dir(tmp_path_factory) -> Path:
    return build_train_shards(shared_root(tmp_path_factory) / "data")


def tokenizer_dir(tmp_path_factory) -> Path:
    return shards_dir(tmp_path_factory).parent / "tokenizer"


def train_checkpoint(tmp_path_factory, name: str, *extra: str, steps: int = STEPS) -> Path:
    """Train the small SymbolicLight (or, with `model.matched_gpt2=true`, its GPT-2) for `steps` steps."""
    from symboliclight.model.checkpointing import list_checkpoints
    from symboliclight.model.train import prepare_run, run_fit

    shards = shards_dir(tmp_path_factory)
    out = shared_root(tmp_path_factory) / "runs" / name
    found = list_checkpoints(out)
    if found:
        return found[-1]
    cfg = small_config(shards, f"trainer.max_steps={steps}", "trainer.val_every_n_steps=0", "trainer.val_at_end=false",
                       "trainer.ckpt_every_n_steps=0", f"name={name}", *extra)
    run_fit(prepare_run(cfg, out=out), report=False)
    return list_checkpoints(out)[-1]


# --- task files in lm-evaluation-harness's record formats ------------------------------------------

_FACTS = [
    ("open a text file for reading in Python", "call open(path) and read it", "call close(path) and delete it"),
    ("keep the licence terms with a copy", "include the copyright notice", "remove every notice"),
    ("print a line to the terminal", "use the print function", "use the import statement"),
    ("stop a loop early", "use break", "use return 5 times"),
    ("sort a list of numbers", "call sorted on the list", "call len on the list"),
    ("保存文件", "点击保存按钮", "关闭电源"),
    ("translate a message", "look it up in the catalogue", "ignore the message"),
    ("find the length of a string", "call len on it", "call str on it"),
    ("add an item to a list", "call append", "call pop"),
    ("read an environment variable", "use os.environ", "use os.remove"),
    ("raise an error", "use the raise statement", "use the pass statement"),
    ("join two paths", "use os.path.join", "use os.path.exists"),
]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


def piqa_records() -> list[dict]:
    return [{"goal": f"How do you {g}?", "sol1": a if i % 2 == 0 else b, "sol2": b if i % 2 == 0 else a,
             "label": i % 2} for i, (g, a, b) in enumerate(_FACTS)]


def arc_records() -> list[dict]:
    out = []
    for i, (g, a, b) in enumerate(_FACTS):
        texts = [b, "nothing at all", a, "ask later"]
        labels = ["A", "B", "C", "D"] if i % 3 else ["1", "2", "3", "4"]
        out.append({"id": f"q{i}", "question": f"What do you do to {g}?",
                    "choices": {"text": texts, "label": labels}, "answerKey": labels[2]})
    return out


def hellaswag_records() -> list[dict]:
    out = []
    for i, (g, a, b) in enumerate(_FACTS):
        out.append({"ind": i, "activity_label": "Computers [title] Howto", "ctx_a": f"A person wants to {g}.",
                    "ctx_b": "then they", "endings": [b, a + " [step]", "go home", "sleep  well"],
                    "label": str(1)})
    return out


def sciq_records() -> list[dict]:
    return [{"question": f"How do you {g}?", "distractor1": b, "distractor2": "wait", "distractor3": "nothing",
             "correct_answer": a, "support": f"  To {g}, you {a}."} for g, a, b in _FACTS]


def lambada_records() -> list[dict]:
    texts = ["This program is free software you can redistribute it",
             "Permission is hereby granted free of charge to any person obtaining a copy",
             "def main return the value of the function",
             "The above copyright notice shall be included in all copies",
             "Return a new list containing all items from the iterable in ascending order",
             "打开 文件 保存 文件",
             "If the file does not exist raise an error",
             "You should have received a copy of the license",
             "import os import sys",
             "Copy the file to the new path",
             "Open the window and close the door",
             "The value of x is returned by the function"]
    return [{"text": t} for t in texts]


RECORDS = {"piqa": piqa_records, "arc_easy": arc_records, "hellaswag": hellaswag_records, "sciq": sciq_records,
           "lambada": lambada_records}
