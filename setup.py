"""Build the optional native line loop (rampart.detect._native) and fim walk (rampart.fim._walk).

Everything else is in pyproject.toml. The extension is optional: without a C
compiler the install still succeeds and ``rampart ban test`` uses the
pure-Python matcher and ``rampart fim check`` the Python walk (slower, same
results).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "rampart.detect._native",
            ["src/rampart/detect/_native.c"],
            extra_compile_args=["-O2", "-fvisibility=hidden"],
            libraries=["dl", "pthread"],
            optional=True,
        ),
        Extension(
            "rampart.fim._walk",
            ["src/rampart/fim/_walk.c"],
            extra_compile_args=["-O2", "-fvisibility=hidden"],
            optional=True,
        ),
    ]
)
