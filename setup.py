"""Build hook: the wheel carries the project's top-level folders (templates/, migrations/)
inside the package, as app/_bundled/<folder>, where ``app.resource_dir`` finds them.

The repository keeps its layout (top-level templates/ and migrations/); an editable install
reads them from the checkout. Everything else is in pyproject.toml.
"""

import os

from setuptools import setup
from setuptools.command.build_py import build_py

BUNDLED = ("templates", "migrations", "Procfile")


class build_py_with_folders(build_py):
    def run(self):
        super().run()
        for folder in BUNDLED:
            if os.path.isfile(folder):
                self.mkpath(os.path.join(self.build_lib, "app", "_bundled"))
                self.copy_file(folder, os.path.join(self.build_lib, "app", "_bundled", folder))
            for root, dirs, files in os.walk(folder):
                dirs[:] = [d for d in dirs if d != "__pycache__"]
                for name in files:
                    if name.endswith((".pyc", ".pyo")):
                        continue
                    source = os.path.join(root, name)
                    target = os.path.join(self.build_lib, "app", "_bundled", source)
                    self.mkpath(os.path.dirname(target))
                    self.copy_file(source, target)


setup(cmdclass={"build_py": build_py_with_folders})
