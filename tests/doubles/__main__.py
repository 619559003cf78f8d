"""Serve the WIMS double on 127.0.0.1 for trying the gateway by hand.

    .venv/bin/python -m tests.doubles [--port 7777]

It answers at http://127.0.0.1:7777/wims/wims.cgi with the ident, password
and rclass of config/wims.yaml, and prints each adm/raw job it receives.
"""

import argparse
import time

from tests.doubles.wims import WimsDouble


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the WIMS adm/raw double.")
    parser.add_argument("--port", type=int, default=7777)
    args = parser.parse_args()
    double = WimsDouble(ident="wimslti", passwd="wimsltipass", rclass="myclass")
    double.start(port=args.port)
    print(f"WIMS double at {double.url} (Ctrl-C to stop)", flush=True)
    seen = 0
    try:
        while True:
            time.sleep(0.2)
            for job, params in double.calls[seen:]:
                print(f"adm/raw {job} qclass={params.get('qclass', '')}", flush=True)
            seen = len(double.calls)
    except KeyboardInterrupt:
        double.stop()


if __name__ == "__main__":
    main()
