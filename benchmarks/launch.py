"""Measure launches against a gateway served for real (waitress, 127.0.0.1).

The gateway runs in a child process on a temporary SQLite database (or the
database of --database-url), declared by YAML like a real installation; the
WIMS double answers at once in this process; 8 client threads launch as an
LMS does. Printed for first class launches, new student launches and warm
student launches: median and 95th percentile latency, launches per second
and adm/raw calls per launch; then the server's resident memory.

    .venv/bin/python benchmarks/launch.py [--launches 200] [--clients 8]

Keep the output format: figures are compared over time.
"""

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.doubles.wims import WimsDouble  # noqa: E402
from tests.lti_consumer import TEACHER, launch_params, signed_launch  # noqa: E402

KEY, SECRET = "bench-key", "bench-secret"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launches", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    with WimsDouble.serve() as wims, tempfile.TemporaryDirectory() as folder:
        gateway = Gateway(Path(folder), wims.url, args.database_url)
        try:
            gateway.start()
            run(gateway, wims, args.launches, args.clients)
        finally:
            gateway.stop()


def run(gateway: "Gateway", wims: WimsDouble, count: int, clients: int) -> None:
    database = "postgresql" if gateway.database_url.startswith("postgres") else "sqlite"
    print(
        f"wimslti launch benchmark: {count} launches a kind, {clients} clients, "
        f"{database}, WIMS double answering at once"
    )
    print(
        f"{'kind':<22}{'median_ms':>10}{'p95_ms':>10}{'launches/s':>12}"
        f"{'adm_raw/launch':>16}"
    )
    session = requests.Session()

    def teacher(n):
        return launch_params(TEACHER, context_id=f"bench-course-{n}", user_id=f"t-{n}")

    def student(n):
        return launch_params(
            context_id="bench-course-0",
            user_id=f"bench-student-{n}",
            lis_person_name_given="Student",
            lis_person_name_family=f"Number {n}",
            lis_person_name_full=f"Student Number {n}",
        )

    kinds = [
        ("first_class_launch", teacher),
        ("new_student_launch", student),
        ("warm_student_launch", student),
    ]
    for kind, params_of in kinds:
        before = wims.count()
        latencies, seconds = measure(gateway, session, params_of, count, clients)
        calls = (wims.count() - before) / count
        print(
            f"{kind:<22}{statistics.median(latencies):>10.1f}"
            f"{percentile(latencies, 95):>10.1f}{count / seconds:>12.1f}"
            f"{calls:>16.2f}"
        )
    print(f"server_rss_mb {gateway.rss_mb():.1f}")


def measure(gateway, session, params_of, count, clients):
    url = f"{gateway.base_url}/lti/C1/"

    def one(n):
        fields = signed_launch(url, params_of(n), KEY, SECRET)
        started = time.perf_counter()
        response = requests.post(url, data=fields, allow_redirects=False, timeout=60)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 302:
            raise SystemExit(f"launch {n} answered {response.status_code}")
        return elapsed

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = list(pool.map(one, range(count)))
    return latencies, time.perf_counter() - started


def percentile(values: list[float], rank: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(rank / 100 * (len(ordered) - 1)))]


class Gateway:
    """The gateway in a child process, configured like a real installation."""

    def __init__(self, folder: Path, wims_url: str, database_url: str):
        self.folder = folder
        self.database_url = database_url or f"sqlite:///{folder}/bench.sqlite"
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        config = folder / "config"
        config.mkdir()
        (config / "bench.yaml").write_text(
            textwrap.dedent(f"""\
            lms:
              - key: {KEY}
                secret: {SECRET}
                name: Benchmark LMS
            wims:
              - id: 1
                name: WIMS double
                url: {wims_url}
                ident: wimslti
                passwd: wimsltipass
                rclass: myclass
                allowed_lms: [{KEY}]
            """)
        )
        self.ini = folder / "bench.ini"
        self.ini.write_text(
            textwrap.dedent(f"""\
            [app:main]
            use = egg:wimslti
            sqlalchemy.url = {self.database_url}
            wimslti.config_dir = {config}

            [alembic]
            script_location = {ROOT}/alembic

            [server:main]
            use = egg:waitress#main
            listen = 127.0.0.1:{self.port}
            threads = 8

            [loggers]
            keys = root

            [handlers]
            keys = console

            [formatters]
            keys = generic

            [logger_root]
            level = WARN
            handlers = console

            [handler_console]
            class = StreamHandler
            args = (sys.stderr,)
            formatter = generic

            [formatter_generic]
            format = %(levelname)s %(name)s %(message)s
            """)
        )

    def start(self) -> None:
        bin_dir = Path(sys.executable).parent
        environ = {**os.environ, "WIMSLTI_DATABASE_URL": self.database_url}
        subprocess.run(
            [bin_dir / "wimslti", "-c", self.ini, "initdb"], check=True, env=environ
        )
        self.process = subprocess.Popen([bin_dir / "pserve", self.ini], env=environ)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(self.base_url + "/lti/C1/", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise SystemExit("the gateway did not start")

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS"))
        return int(line.split()[1]) / 1024

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


if __name__ == "__main__":
    main()
