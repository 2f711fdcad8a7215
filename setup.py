"""Build the optional native line loops (rampart.detect._native, rampart.hids._native).

Everything else is in pyproject.toml. The extension is optional: without a C
compiler the install still succeeds and ``rampart ban test`` uses the
pure-Python matcher (slower, same results).
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
            "rampart.hids._native",
            ["src/rampart/hids/_native.c"],
            extra_compile_args=["-O2", "-fvisibility=hidden"],
            libraries=["dl"],
            optional=True,
        ),
    ]
)
