"""Write a PasteDeploy ini file of the gateway for tests of the command line."""

from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def write_gateway_ini(
    path: Path, database_url: str, config_dir: Path | str, extra: str = ""
) -> str:
    """Write an ini for ``database_url`` and ``config_dir`` at ``path``; return it.

    ``extra`` holds more ``name = value`` lines of the ``[app:main]`` section.
    """
    lines = [
        "[app:main]",
        "use = egg:wimslti",
        f"sqlalchemy.url = {database_url}",
        f"wimslti.config_dir = {config_dir}",
        *(line.strip() for line in extra.strip().splitlines()),
        "",
        "[alembic]",
        f"script_location = {PROJECT / 'alembic'}",
        "",
    ]
    path.write_text("\n".join(lines))
    return str(path)
