"""`python -m cli.healthcheck`: the container's health check (Dockerfile HEALTHCHECK and the
compose app's healthcheck run this one module): exit 0 when `/readyz` answers 200, else 1
printing why (the reasons of a 503, or why nothing answered), which `docker inspect` shows.

Python's standard library only: no curl in the image, and no StrideGuard module loaded (a
check every few seconds must be cheap). Never through a proxy: Docker gives containers the
client's http_proxy/HTTP_PROXY, and urllib would send a request for 127.0.0.1 to it.
STRIDEGUARD_HEALTH_URL says where to ask, for a config listening elsewhere.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:9464/readyz"
TIMEOUT_S = 8.0  # under the HEALTHCHECK's --timeout=10s, so the reason is printed


def check(url: str, timeout_s: float = TIMEOUT_S) -> str | None:
    """Why `url` is not ready (its 503 body, or the connection's failure), or None."""
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with direct.open(url, timeout=timeout_s):
            return None
    except urllib.error.HTTPError as exc:
        return exc.read().decode(errors="replace") or f"{url}: HTTP {exc.code}"
    except OSError as exc:
        return f"{url}: {exc}"


def main() -> int:
    url = os.environ.get("STRIDEGUARD_HEALTH_URL", DEFAULT_URL)
    problem = check(url)
    if problem is None:
        return 0
    print(problem.rstrip(), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
