"""Debian's nginx as a caching peer: ``proxy_cache`` keyed on the URI and ``Authorization``,
stale-while-updating in the background, one fetch per key (``proxy_cache_lock``). Optional:
``binary()`` is None when nginx is not installed and the benchmark says so and skips it."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

_CONF = """\
{user}worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  proxy_cache_path {dir}/cache levels=1:2 keys_zone=zuora:32m max_size=1g inactive=1h;
  upstream zuora {{ server {upstream}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://zuora;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache zuora;
      proxy_cache_key "$request_method|$request_uri|$http_authorization";
      proxy_cache_valid 200 60s;
      proxy_ignore_headers Cache-Control Expires Set-Cookie Vary X-Accel-Expires;
      proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;
      proxy_cache_background_update on;
      proxy_cache_lock on;
      proxy_cache_lock_timeout 5s;
      add_header Cache-Status $upstream_cache_status;
    }}
  }}
}}
"""


def binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.path.exists(p)), None
    )


@contextlib.contextmanager
def nginx_process(workdir: Path, port: int, upstream_url: str) -> Iterator[str]:
    """nginx on 127.0.0.1:``port`` caching ``upstream_url``; yields its base URL."""
    exe = binary()
    assert exe is not None
    workdir.mkdir(parents=True, exist_ok=True)
    upstream = upstream_url.removeprefix("http://").rstrip("/")
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = workdir / "nginx.conf"
    conf.write_text(_CONF.format(user=user, dir=workdir, upstream=upstream, port=port))
    log = (workdir / "stderr.log").open("ab")
    proc = subprocess.Popen(
        [exe, "-c", str(conf), "-p", str(workdir)],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError((workdir / "stderr.log").read_text()[-2000:])
            try:
                urllib.request.urlopen(url + "/__fake/stats", timeout=0.5).close()
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
