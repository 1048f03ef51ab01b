"""Zero-shot task items from local JSONL files, in lm-evaluation-harness's record formats.

The harness (lm-eval 0.4.x task YAMLs) downloads its data from the Hub; offline, users bring the
same records as JSONL. Each line is one record with the harness's field names; this module turns
it into the (context, choices, gold) the harness would build, following its prompt construction:

- piqa       {goal, sol1, sol2, label}: context "Question: <goal>\\nAnswer:", choices [sol1, sol2].
- arc_easy   {question, choices: {text: [...], label: [...]}, answerKey}: context
             "Question: <question>\\nAnswer:", choices = choices.text, gold = position of answerKey
             in choices.label.
- hellaswag  {activity_label, ctx_a, ctx_b, endings: [4], label}: context
             "<activity_label>: <ctx_a> <Ctx_b>" (ctx_b's first letter upper-cased), context and
             endings cleaned of WikiHow artifacts (" [title]" → ". ", "[...]" removed, double
             spaces folded, stripped).
- sciq       {support, question, distractor1..3, correct_answer}: context
             "<support without leading space>\\nQuestion: <question>\\nAnswer:", choices
             [distractor1, distractor2, distractor3, correct_answer], gold 3.
- lambada    {text}: context = all words but the last (split on single spaces), target = " " +
             the last word (the OpenAI variant's construction).

Every choice is scored as the continuation " " + choice (the harness's target delimiter). A record
missing a field, with a wrong type, or an out-of-range label is reported as one line naming the
file, the line and the field; nothing is skipped silently.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symboliclight.pipeline.errors import UserError

TARGET_DELIMITER = " "


@dataclass(frozen=True)
class McItem:
    """A multiple-choice item: score " " + each choice after `context`; `gold` indexes `choices`."""

    context: str
    choices: list[str]
    gold: int


@dataclass(frozen=True)
class ClozeItem:
    """A LAMBADA item: the target word (with its leading space) after `context`."""

    context: str
    target: str


class _Bad(Exception):
    pass


def _field(doc: dict[str, Any], name: str, kind: type | tuple[type, ...] = str) -> Any:
    if name not in doc:
        raise _Bad(f"missing field {name!r}")
    value = doc[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        want = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise _Bad(f"field {name!r} should be {want}, got {type(value).__name__}")
    return value


def _label(doc: dict[str, Any], name: str, n: int) -> int:
    raw = _field(doc, name, (int, str))
    try:
        value = int(raw)
    except ValueError:
        raise _Bad(f"field {name!r} should be an integer label, got {raw!r}") from None
    if not 0 <= value < n:
        raise _Bad(f"field {name!r} = {value} is not a choice index 0..{n - 1}")
    return value


def _strings(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _Bad(f"field {name!r} should be a non-empty list of strings")
    return value


def piqa(doc: dict[str, Any]) -> McItem:
    choices = [_field(doc, "sol1"), _field(doc, "sol2")]
    return McItem(f"Question: {_field(doc, 'goal')}\nAnswer:", choices, _label(doc, "label", 2))


def arc_easy(doc: dict[str, Any]) -> McItem:
    question = _field(doc, "question")
    choices = _field(doc, "choices", dict)
    texts = _strings(choices.get("text"), "choices.text")
    labels = _strings(choices.get("label"), "choices.label")
    if len(texts) != len(labels):
        raise _Bad(f"choices.text has {len(texts)} entries, choices.label {len(labels)}")
    key = _field(doc, "answerKey")
    if key not in labels:
        raise _Bad(f"answerKey {key!r} is not one of choices.label {labels}")
    return McItem(f"Question: {question}\nAnswer:", texts, labels.index(key))


def _hellaswag_clean(text: str) -> str:
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def hellaswag(doc: dict[str, Any]) -> McItem:
    ctx_b = _field(doc, "ctx_b")
    ctx = _field(doc, "ctx_a") + " " + ctx_b.capitalize()
    endings = _strings(_field(doc, "endings", list), "endings")
    return McItem(_hellaswag_clean(_field(doc, "activity_label") + ": " + ctx),
                  [_hellaswag_clean(e) for e in endings], _label(doc, "label", len(endings)))


def sciq(doc: dict[str, Any]) -> McItem:
    choices = [_field(doc, "distractor1"), _field(doc, "distractor2"), _field(doc, "distractor3"),
               _field(doc, "correct_answer")]
    context = f"{_field(doc, 'support').lstrip()}\nQuestion: {_field(doc, 'question')}\nAnswer:"
    return McItem(context, choices, 3)


def lambada(doc: dict[str, Any]) -> ClozeItem:
    words = _field(doc, "text").split(" ")
    if len(words) < 2 or not words[-1]:
        raise _Bad("field 'text' needs at least two space-separated words and no trailing space")
    return ClozeItem(" ".join(words[:-1]), " " + words[-1])


TASKS: dict[str, Callable[[dict[str, Any]], McItem | ClozeItem]] = {
    "piqa": piqa, "arc_easy": arc_easy, "hellaswag": hellaswag, "lambada": lambada, "sciq": sciq,
}


def load_task(task: str, path: str | Path) -> list[McItem] | list[ClozeItem]:
    """Every record of a JSONL task file as items; the first bad record raises `UserError`."""
    if task not in TASKS:
        raise UserError(f"unknown task {task!r} (known: {', '.join(TASKS)})")
    build = TASKS[task]
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: task file not found")
    items: list[Any] = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        line = path.read_bytes()[:e.start].count(b"\n") + 1
        raise UserError(f"{path}:{line}: not UTF-8 text") from None
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{lineno}: not JSON ({e.msg})") from None
        if not isinstance(doc, dict):
            raise UserError(f"{path}:{lineno}: a {task} record must be a JSON object")
        try:
            items.append(build(doc))
        except _Bad as e:
            raise UserError(f"{path}:{lineno}: {task} record: {e}") from None
    if not items:
        raise UserError(f"{path}: no {task} records")
    return items
