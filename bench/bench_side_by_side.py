"""Side-by-side launch benchmark: AIU against a bare pylti1p3 + Flask app doing the same flow.

Both tools run under gunicorn (2 sync workers, loopback) against one Moodle stand-in served in
this process. A launch is a whole learner launch as a browser makes it (the tool's OIDC login
→ the stand-in's auth.php → the auto-POSTed id_token to the tool's launch → the tool's landing
page). Rounds are interleaved A B A B A B; each round runs N launches at each concurrency.

Per app, round and concurrency it prints the tool CPU per launch (utime + stime of the
gunicorn master and all its workers from ``/proc/<pid>/stat``, read before and after the
round; workers that exit during the round are counted through the master's cutime/cstime),
launches/s and the p50/p95 launch latency seen by the browser (which includes the stand-in's
work). The stand-in runs in this process, so its CPU is never counted for either tool. Then,
per concurrency, the ratio AIU / bare of the median CPU per launch over the rounds, and the
target from issue 13 (ratio <= 0.33) with PASS/FAIL.

    .venv/bin/python bench/bench_side_by_side.py [--launches 200] [--rounds 3]
        [--concurrency 1,8] [--learners 16] [--redis-url redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from bench.harness import free_port, start_standin  # noqa: E402
from lti_tool import create_app  # noqa: E402
from lti_tool.demo.model import STUDENT  # noqa: E402
from lti_tool.demo.platform import MoodleStandIn, ToolRegistration  # noqa: E402
from lti_tool.demo.wiring import register_both_ways  # noqa: E402
from lti_tool.extensions import db  # noqa: E402
from tests.support.browser import FormBrowser, launch  # noqa: E402

BIN = Path(sys.executable).parent
TARGET_RATIO = 0.33
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
COURSE_ID = 2  # CIPD5 on the stand-in


# ------------------------------------------------------------------------------ CPU from /proc
def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces: the fields after it start past its ")".
    return raw[raw.rindex(")") + 2:].split()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def server_cpu_seconds(master_pid: int) -> float:
    """utime + stime of the gunicorn master and its live workers, plus cutime + cstime of the
    master (the workers it has reaped), in seconds."""
    fields = _stat_fields(master_pid)
    if fields is None:
        raise RuntimeError(f"gunicorn master {master_pid} is gone")
    # After the name: state is index 0, so utime/stime/cutime/cstime are indexes 11..14.
    ticks = sum(int(v) for v in fields[11:15])
    for child in _children(master_pid):
        child_fields = _stat_fields(child)
        if child_fields is not None:
            ticks += int(child_fields[11]) + int(child_fields[12])
    return ticks / CLOCK_TICKS


# ----------------------------------------------------------------------------------- servers
@dataclass
class ToolUnderTest:
    """One tool served by gunicorn, registered on the stand-in."""

    name: str
    base_url: str
    registration: ToolRegistration
    process: subprocess.Popen[bytes]
    check: Callable[[requests.Response, str], bool]
    log_path: Path
    results: dict[int, list[RoundResult]] = field(default_factory=dict)


@dataclass
class RoundResult:
    launches: int
    failures: int
    cpu_seconds: float
    wall_seconds: float
    latencies: list[float]

    @property
    def cpu_ms_per_launch(self) -> float:
        return 1000 * self.cpu_seconds / max(self.launches, 1)

    @property
    def rate(self) -> float:
        return self.launches / self.wall_seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def start_gunicorn(app_spec: str, port: int, env: dict[str, str], log_path: Path
                   ) -> subprocess.Popen[bytes]:
    log = log_path.open("wb")
    return subprocess.Popen(
        [str(BIN / "gunicorn"), "--workers", "2", "--worker-class", "sync",
         "--bind", f"127.0.0.1:{port}", "--chdir", str(ROOT), app_spec],
        env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_until_up(url: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{log_path.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer:\n{log_path.read_text()[-3000:]}")


def base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    return {k: os.environ[k] for k in keep if k in os.environ}


def start_aiu(moodle: MoodleStandIn, work: Path, redis_url: str | None) -> ToolUnderTest:
    """AIU as the operator runs it: ``flask db upgrade``, ``flask keys generate``, gunicorn."""
    port = free_port()
    env = base_env() | {
        "LTI_TOOL_SECRET_KEY": "bench-side-by-side",
        "LTI_TOOL_BASE_URL": f"http://localhost:{port}",
        "LTI_TOOL_SQLALCHEMY_DATABASE_URI": f"sqlite:///{work / 'aiu.sqlite'}",
        "LTI_TOOL_KEYS_DIR": str(work / "aiu-keys"),
        "LTI_TOOL_CACHE_DIR": str(work / "aiu-cache"),
        "LTI_TOOL_ALLOW_INSECURE": "1",
    }
    if redis_url:
        env["LTI_TOOL_REDIS_URL"] = redis_url
    for args in (("db", "upgrade"), ("keys", "generate")):
        done = subprocess.run([str(BIN / "flask"), "--app", "lti_tool", *args], env=env,
                              capture_output=True, text=True, timeout=180, cwd=ROOT)
        if done.returncode != 0:
            raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stderr}")
    config: dict[str, object] = {key.removeprefix("LTI_TOOL_"): value
                                 for key, value in env.items() if key.startswith("LTI_TOOL_")}
    app = create_app(config)
    with app.app_context():
        registration, _ = register_both_ways(moodle, env["LTI_TOOL_BASE_URL"], actor="bench")
        db.session.commit()
        db.engine.dispose()
    log_path = work / "aiu-gunicorn.log"
    proc = start_gunicorn("lti_tool:create_app()", port, env, log_path)
    wait_until_up(env["LTI_TOOL_BASE_URL"] + "/healthz", proc, log_path)

    def landed(page: requests.Response, username: str) -> bool:
        return page.status_code == 200 and "/learner/placements/" in page.url

    return ToolUnderTest("AIU", env["LTI_TOOL_BASE_URL"], registration, proc, landed,
                         log_path)


def start_bare(moodle: MoodleStandIn, work: Path, redis_url: str | None) -> ToolUnderTest:
    """The bare pylti1p3 app (bench/bare_pylti_app.py), registered on the stand-in by hand."""
    port = free_port()
    base = f"http://localhost:{port}"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = work / "bare-private.pem"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    registration = moodle.register_tool(
        initiate_login_uri=base + "/lti/login", redirect_uris=[base + "/lti/launch"],
        jwks_uri=base + "/lti/jwks", target_link_uri=base + "/lti/launch",
        name="Bare pylti1p3")
    env = base_env() | {
        "BARE_LTI_ISSUER": moodle.issuer,
        "BARE_LTI_CLIENT_ID": registration.client_id,
        "BARE_LTI_DEPLOYMENT_ID": registration.deployment_id,
        "BARE_LTI_PRIVATE_KEY_FILE": str(key_file),
        "BARE_LTI_CACHE_DIR": str(work / "bare-cache"),
        "BARE_LTI_SECRET_KEY": "bench-side-by-side",
    }
    if redis_url:
        env["BARE_LTI_REDIS_URL"] = redis_url
    log_path = work / "bare-gunicorn.log"
    proc = start_gunicorn("bench.bare_pylti_app:create_app()", port, env, log_path)
    wait_until_up(base + "/lti/jwks", proc, log_path)

    def landed(page: requests.Response, username: str) -> bool:
        user = moodle.user(username)
        return page.status_code == 200 and f"Welcome, {user.firstname}" in page.text

    return ToolUnderTest("bare pylti1p3", base, registration, proc, landed, log_path)


# ---------------------------------------------------------------------------------- launches
def one_launch(moodle: MoodleStandIn, tool: ToolUnderTest, username: str
               ) -> tuple[float, bool]:
    with FormBrowser() as browser:
        started = time.perf_counter()
        try:
            page = launch(browser, moodle, username, client_id=tool.registration.client_id,
                          course_id=COURSE_ID)
        except (requests.RequestException, RuntimeError, AssertionError):
            return time.perf_counter() - started, False
        elapsed = time.perf_counter() - started
        return elapsed, tool.check(page, username)


def run_round(moodle: MoodleStandIn, tool: ToolUnderTest, learners: list[str], launches: int,
              concurrency: int) -> RoundResult:
    counter = iter(range(launches))
    lock = threading.Lock()
    latencies: list[float] = []
    failures = 0

    def worker() -> None:
        nonlocal failures
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            elapsed, ok = one_launch(moodle, tool, learners[index % len(learners)])
            with lock:
                latencies.append(elapsed)
                failures += 0 if ok else 1

    cpu_before = server_cpu_seconds(tool.process.pid)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()
    wall = time.perf_counter() - started
    cpu_after = server_cpu_seconds(tool.process.pid)
    return RoundResult(launches, failures, cpu_after - cpu_before, wall, latencies)


def warm_up(moodle: MoodleStandIn, tool: ToolUnderTest, learners: list[str]) -> None:
    """First launches of every learner (person rows, JWKS fetch, template compilation) on
    both workers, before anything is measured. The very first launch runs alone: it creates
    the course, the placement and (AIU) the bundled policy version."""
    first = run_round(moodle, tool, learners[:1], 1, 1)
    result = run_round(moodle, tool, learners, max(2 * len(learners), 8), 2)
    result.failures += first.failures
    if result.failures:
        raise RuntimeError(f"{tool.name}: {result.failures} warm-up launches failed; see "
                           f"{tool.log_path}")


@contextmanager
def stopped_at_exit(tools: list[ToolUnderTest]) -> Iterator[None]:
    try:
        yield
    finally:
        for tool in tools:
            if tool.process.poll() is None:
                tool.process.terminate()
                try:
                    tool.process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    tool.process.kill()


def add_learners(moodle: MoodleStandIn, count: int) -> list[str]:
    names = []
    for i in range(1, count + 1):
        username = f"benchlearner{i}"
        moodle.add_user(username, "Bench", f"Learner {i}")
        moodle.enrol(COURSE_ID, username, STUDENT)
        names.append(username)
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--launches", type=int, default=200, help="launches per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per app (interleaved)")
    parser.add_argument("--concurrency", default="1,8",
                        help="comma-separated concurrency levels (threads)")
    parser.add_argument("--learners", type=int, default=16,
                        help="distinct learners the launches rotate over")
    parser.add_argument("--redis-url", default=None,
                        help="give both tools this Redis (AIU: LTI_TOOL_REDIS_URL)")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]

    work = Path(tempfile.mkdtemp(prefix="aiu-side-by-side-"))
    moodle = start_standin()
    learners = add_learners(moodle, args.learners)

    aiu = start_aiu(moodle, work, args.redis_url)
    tools = [aiu]
    with stopped_at_exit(tools):
        bare = start_bare(moodle, work, args.redis_url)
        tools.append(bare)
        for tool in tools:
            warm_up(moodle, tool, learners)
        jwks_after_warm_up = moodle.jwks_fetch_count
        print(f"side by side: {args.rounds} rounds x {args.launches} launches per app and "
              f"concurrency {levels}; gunicorn 2 sync workers each; {len(learners)} learners; "
              f"{os.cpu_count()} CPUs; work dir {work}")
        print(f"{'round':>5} {'app':<14} {'conc':>4} {'CPU ms/launch':>14} {'launches/s':>11} "
              f"{'p50 ms':>8} {'p95 ms':>8} {'failed':>6}")
        for round_no in range(1, args.rounds + 1):
            for tool in tools:
                for level in levels:
                    result = run_round(moodle, tool, learners, args.launches, level)
                    tool.results.setdefault(level, []).append(result)
                    print(f"{round_no:>5} {tool.name:<14} {level:>4} "
                          f"{result.cpu_ms_per_launch:>14.1f} {result.rate:>11.1f} "
                          f"{result.percentile(0.5):>8.1f} {result.percentile(0.95):>8.1f} "
                          f"{result.failures:>6}", flush=True)
        print(f"platform JWKS fetches while measuring: "
              f"{moodle.jwks_fetch_count - jwks_after_warm_up} (both tools cache the keys)")
        verdicts = []
        failed = sum(r.failures for t in tools for rs in t.results.values() for r in rs)
        for level in levels:
            aiu_ms = statistics.median(r.cpu_ms_per_launch for r in aiu.results[level])
            bare_ms = statistics.median(r.cpu_ms_per_launch for r in bare.results[level])
            ratio = aiu_ms / bare_ms if bare_ms else float("inf")
            ok = ratio <= TARGET_RATIO
            verdicts.append(ok)
            print(f"concurrency {level}: AIU {aiu_ms:.1f} ms / bare {bare_ms:.1f} ms of tool "
                  f"CPU per launch (median of {args.rounds} rounds) = ratio {ratio:.2f}; "
                  f"target <= {TARGET_RATIO}: {'PASS' if ok else 'FAIL'}")
        if failed:
            print(f"{failed} launches failed (see {aiu.log_path} and {bare.log_path}): "
                  "the figures are not valid")
        print(f"overall: {'PASS' if all(verdicts) and not failed else 'FAIL'}")


if __name__ == "__main__":
    main()
