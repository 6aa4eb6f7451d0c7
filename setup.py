"""Build hook for the optional native core (everything else is in pyproject.toml).

``rmtool.measure._granules`` needs a C compiler and OpenSSL's headers (Debian:
libssl-dev). It is optional: where it cannot be built, rmtool installs anyway and hashes
with hashlib (same results, slower; ``rmtool measure -v`` says which core it used).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "rmtool.measure._granules",
            sources=["rmtool/measure/_granules.c"],
            libraries=["crypto"],
            optional=True,
        )
    ]
)
