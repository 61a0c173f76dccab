"""Run the Moodle stand-in alone: ``python -m lti_tool.demo [--host H] [--port P]``.

Open the printed URL, go to Site administration › Manage tools as admin and add the tool by
its registration URL (or pass ``--register-url`` to print the iframe URL Moodle would open).
"""

from __future__ import annotations

import argparse
import time

from lti_tool.demo.platform import MoodleStandIn
from lti_tool.demo.server import DeferredApp, serve_in_thread


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lti_tool.demo",
                                     description="Serve the Moodle 4.5 LTI stand-in.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--register-url", default="",
                        help="print the dynamic registration URL for this tool URL")
    args = parser.parse_args(argv)
    holder = DeferredApp()
    handle = serve_in_thread(holder, args.host, args.port, quiet=False)
    standin = MoodleStandIn(handle.url)
    holder.app = standin.app
    print(f"Moodle stand-in at {handle.url} (issuer {standin.issuer})", flush=True)
    if args.register_url:
        print("Registration URL:", standin.start_registration(args.register_url), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        handle.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
