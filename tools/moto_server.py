"""Start a moto server for the test suite, one request at a time.

moto's TransactWriteItems is not atomic when requests are served
concurrently (a failed transaction restores a copy of the table and erases
transactions committed meanwhile), so the server runs single-threaded:
concurrency tests then test our code, not moto's races.

Binds 127.0.0.1 on a free port (or --port), prints `PORT=<n>` once it
accepts connections, and exits when its parent process exits, so a test
run that dies never leaves a server behind.
"""

import argparse
import os
import socket
import sys
import threading
import time

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server


def watch_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument(
        "--no-parent-watch",
        action="store_true",
        help="keep running after the parent exits",
    )
    args = parser.parse_args()

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(128)
    port = sock.getsockname()[1]
    os.environ["MOTO_PORT"] = str(port)

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", port, app, threaded=False, fd=sock.fileno())

    if not args.no_parent_watch:
        threading.Thread(target=watch_parent, args=(os.getppid(),), daemon=True).start()
    print(f"PORT={port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
