"""Map the top-level layer folders onto one import namespace, `symboliclight.<layer>`.

The layout keeps `pipeline/`, `tokenizer/`, `model/`, `dags/` and `configs/` at the repository root,
but they must never install as bare global modules (a `model` or `tokenizer` package would collide
with other projects), so each folder becomes a subpackage of the `symboliclight` namespace.
"""

from setuptools import find_packages, setup

LAYERS = ("pipeline", "tokenizer", "model", "dags", "configs")

package_dir: dict[str, str] = {}
packages: list[str] = []
for layer in LAYERS:
    package_dir[f"symboliclight.{layer}"] = layer
    packages.append(f"symboliclight.{layer}")
    packages += [f"symboliclight.{layer}.{sub}" for sub in find_packages(layer)]

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={"symboliclight.configs": ["**/*.yaml"]},
    include_package_data=True,
)
