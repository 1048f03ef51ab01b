"""The offline ten-domain bilingual sample corpus (`symboliclight corpus sample`)."""

from .build import build_sample, summary
from .cli import add_subcommand
from .config import SampleConfig

__all__ = ["SampleConfig", "add_subcommand", "build_sample", "summary"]
