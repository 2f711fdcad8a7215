"""Build the optional native parts: the filter and HIDS line loops, and the FIM walk.

Everything else is in pyproject.toml. Each extension is optional: without a C
compiler the install still succeeds and rampart runs its Python reference
instead (``rampart ban test`` the Python matcher, ``hids replay`` the Python
engine, ``fim check`` the Python walk: slower, same results).
"""

from setuptools import Extension, setup

FLAGS = ["-O2", "-fvisibility=hidden"]

setup(
    ext_modules=[
        Extension(
            "rampart.detect._native",
            ["src/rampart/detect/_native.c"],
            depends=["src/rampart/_pcre2.h"],
            extra_compile_args=FLAGS,
            libraries=["dl", "pthread"],
            optional=True,
        ),
        Extension(
            "rampart.hids._native",
            ["src/rampart/hids/_native.c"],
            depends=["src/rampart/_pcre2.h"],
            extra_compile_args=FLAGS,
            libraries=["dl"],
            optional=True,
        ),
        Extension(
            "rampart.fim._walk",
            ["src/rampart/fim/_walk.c"],
            extra_compile_args=FLAGS,
            libraries=["pthread"],
            optional=True,
        ),
    ]
)
