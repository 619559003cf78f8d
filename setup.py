from setuptools import find_packages, setup

requires = [
    "argon2-cffi>=23,<26",
    "alembic>=1.13,<2",
    "colander>=2,<3",
    "defusedxml>=0.7,<1",
    "deform>=2.0.15,<4",
    "oauthlib>=4.0,<5",
    "prometheus-client>=0.20,<1",
    "pyramid>=2.0,<3",
    "pyramid_deform>=0.2,<1",
    "pyramid_jinja2>=2.10,<3",
    "pyramid_mailer>=0.15,<1",
    "pyramid_retry>=2.1,<3",
    "pyramid_services>=2.2,<3",
    "pyramid_tm>=2.5,<3",
    "PyYAML>=6,<7",
    "requests>=2.31,<3",
    "requests-oauthlib>=1.3,<3",
    # deform and pyramid_deform import pkg_resources, gone from setuptools 81.
    "setuptools<81",
    "SQLAlchemy>=2.0,<2.2",
    "transaction>=4,<6",
    "Unidecode>=1.3,<2",
    "waitress>=3,<4",
    "zope.sqlalchemy>=3.1,<4",
]

tests_require = [
    "aiosmtpd>=1.4,<2",
    # Extracts the messages to translate (wimslti/locale/README.md) and reads
    # the catalogs in tests; the app itself reads the committed .mo files.
    "Babel>=2.12,<3",
    "beautifulsoup4>=4.12",
    "hypothesis>=6.100",
    # Drives Debian's chromium in tests/browser; no browser of its own.
    "playwright>=1.40,<2",
    "psycopg[binary]>=3.1",
    "pytest>=8",
    "pytest-cov>=5",
    "responses>=0.25",
    "WebTest>=3.0",
]

setup(
    name="wimslti",
    version="0.1.0",
    description="LTI gateway between learning platforms and WIMS servers",
    python_requires=">=3.11",
    packages=find_packages(exclude=["tests", "tests.*"]),
    include_package_data=True,
    zip_safe=False,
    install_requires=requires,
    extras_require={"test": tests_require, "postgresql": ["psycopg[binary]>=3.1"]},
    entry_points={
        "paste.app_factory": ["main = wimslti:main"],
        "console_scripts": ["wimslti = wimslti.scripts.cli:main"],
    },
)
