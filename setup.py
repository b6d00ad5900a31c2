"""Build hook (the project's metadata is in pyproject.toml): put the run-time data into the wheel.

`migrations/` and `config.toml` stay at the top of the repository, the one copy of each. build_py copies
them into originchats/_bundled/ in the build tree only, so every wheel (and so pip and pipx installs)
carries them as package data, found with importlib.resources (originchats/resources.py). An editable
install skips the copy and reads the top-level files. MANIFEST.in puts them into the sdist.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class build_py_with_data(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "originchats" / "_bundled"
        self.mkpath(str(target / "migrations"))
        self.copy_file(str(HERE / "config.toml"), str(target / "config.toml"))
        for sql in sorted((HERE / "migrations").glob("*.sql")):
            self.copy_file(str(sql), str(target / "migrations" / sql.name))


setup(cmdclass={"build_py": build_py_with_data})
