"""The two ways to run a synthesis job outside this process.

* ``ray job submit --working-dir .`` against a ``ray start --head`` cluster on 127.0.0.1 with token authentication,
  started and stopped by the test;
* the crontab's exact command line through a login-less ``env -i`` shell (only PATH, HOME and the crontab's own
  variables), with the first run's driver SIGKILLed mid-run and the crontab's retry line finishing the job.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from manifests.results import validate_results


pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
CRONTAB = REPO / "infra" / "cron" / "sovits-batch.crontab"
TEXTS = ["你好，世界。", "今天天气很好。", "我们去公园散步吧！", "一二三四五。", "春眠不觉晓。", "明天见。"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _manifest(path: Path, n: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table(
            {
                "id": [f"r{i:02d}" for i in range(n)],
                "text": [TEXTS[i % 6] for i in range(n)],
                "voice_id": ["zh_a", "zh_b"] * (n // 2) + ["zh_a"] * (n % 2),
            }
        ),
        path,
    )


def _check_results(out: Path, n: int) -> None:
    results = pq.read_table(out / "results.parquet")
    assert validate_results(results) == [] and results.num_rows == n
    assert set(results.column("status").to_pylist()) == {"ok"}
    audio = sorted(os.listdir(out / "audio"))
    assert audio == sorted(f"{i}.{results.column('format')[0]}" for i in results.column("id").to_pylist())


def _stop(proc: subprocess.Popen, grace: float = 3.0) -> None:
    """Stop a process we started in its own session, and everything left in its process group."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        time.sleep(0.5)  # let children in the group exit too


@pytest.fixture
def ray_head(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A `ray start --head --block` cluster with token auth on 127.0.0.1 (private temp dir, HOME and ports)."""
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "PATH": f"{VENV_BIN}:{os.environ['PATH']}", "RAY_AUTH_MODE": "token"}
    env.pop("RAY_ADDRESS", None)
    subprocess.run([VENV_BIN / "ray", "get-auth-token", "--generate"], env=env, check=True, capture_output=True)
    temp_dir = tempfile.mkdtemp(prefix="rs", dir="/tmp")  # short: Ray's socket paths have a length limit
    dashboard = _free_port()
    cmd = [
        VENV_BIN / "ray",
        "start",
        "--head",
        "--block",
        "--node-ip-address=127.0.0.1",
        f"--port={_free_port()}",
        "--include-dashboard=true",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dashboard}",
        f"--ray-client-server-port={_free_port()}",
        f"--dashboard-agent-listen-port={_free_port()}",
        "--num-cpus=2",
        "--num-gpus=0",
        f"--temp-dir={temp_dir}",
        "--disable-usage-stats",
    ]
    head = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    address = f"http://127.0.0.1:{dashboard}"
    try:
        deadline = time.time() + 90
        while (
            subprocess.run(
                [VENV_BIN / "ray", "job", "list", "--address", address], env=env, capture_output=True
            ).returncode
            != 0
        ):
            assert head.poll() is None and time.time() < deadline, "ray start --head did not come up"
            time.sleep(1)
        yield address, env
    finally:
        _stop(head)


def test_ray_job_submit_with_token_auth(
    ray_head: tuple[str, dict[str, str]], synth_voice_bank: str, synth_model_dir: Path, tmp_path: Path
) -> None:
    address, env = ray_head
    no_auth = {k: v for k, v in env.items() if k != "RAY_AUTH_MODE"}
    refused = subprocess.run(
        [VENV_BIN / "ray", "job", "list", "--address", address], env=no_auth, capture_output=True, text=True
    )
    assert refused.returncode != 0 and "Authentication required" in refused.stdout + refused.stderr

    _manifest(tmp_path / "m.parquet", 4)
    out = tmp_path / "out"
    submit = [
        VENV_BIN / "ray",
        "job",
        "submit",
        "--address",
        address,
        "--working-dir",
        ".",
        "--runtime-env",
        "infra/ray/runtime_env.yaml",
        "--",
        "python",
        "-m",
        "jobs.synthesize",
        "--manifest",
        str(tmp_path / "m.parquet"),
        "--voices",
        synth_voice_bank,
        "--model-dir",
        str(synth_model_dir),
        "--out",
        str(out),
        "--rows-per-shard",
        "2",
        "--no-progress",
        "--qc",
        "off",
    ]
    done = subprocess.run(submit, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "connecting to Ray cluster" in done.stdout + done.stderr  # the driver joined the cluster, no local Ray
    _check_results(out, 4)

    # A run with failed rows: Ray only says "failed"; summary.json (read by jobs.status) says which exit code.
    failing = [*submit, "--max-row-chars", "5", "--force"]  # 6-character texts now fail as text_too_long
    done = subprocess.run(failing, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode != 0  # Ray says only "failed"
    status = subprocess.run([sys.executable, "-m", "jobs.status", "--out", str(out)], cwd=REPO, capture_output=True,
                            text=True)  # fmt: skip
    assert status.returncode == 3, status.stderr
    assert "synthesize: failed_rows (exit 3)" in status.stderr and "text_too_long" in status.stderr


def _crontab() -> tuple[dict[str, str], list[str]]:
    """(variables, commands) of the crontab, commands with cron's ``\\%`` -> ``%`` applied."""
    variables, commands = {}, []
    for line in CRONTAB.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if m := re.fullmatch(r"([A-Z_]+)=(.*)", line):
            variables[m[1]] = m[2]
        else:
            commands.append(line.split(None, 5)[5].replace("\\%", "%"))
    return variables, commands


def test_cron_command_line_survives_a_killed_driver(
    synth_voice_bank: str, synth_model_dir: Path, tmp_path: Path
) -> None:
    variables, commands = _crontab()
    assert len(commands) == 2 and commands[0] == commands[1]  # the retry line repeats the nightly command
    day = time.strftime("%Y-%m-%d", time.gmtime())
    _manifest(tmp_path / "requests" / day / "batch.parquet", 24)  # 3 batches of the default 8 rows
    home = tmp_path / "home"
    home.mkdir()
    variables.update(
        SOVITS_HOME=str(REPO),
        SOVITS_PYTHON=sys.executable,
        REQUESTS=str(tmp_path / "requests"),
        VOICES=synth_voice_bank,
        MODEL_DIR=str(synth_model_dir),
        OUTPUTS=str(tmp_path / "outputs"),
        LOG_FILE=str(tmp_path / "cron.log"),
        QC="off",  # the tiny random model speaks noise: every row would fail QC
    )
    env_i = ["env", "-i", "PATH=/usr/bin:/bin", f"HOME={home}", *(f"{k}={v}" for k, v in variables.items())]
    out = tmp_path / "outputs" / day

    first = subprocess.Popen([*env_i, "/bin/sh", "-c", commands[0]], start_new_session=True)
    try:
        deadline, parts = time.time() + 120, out / "_job" / "parts"
        while not (parts.exists() and any(parts.rglob("*.parquet"))):
            assert first.poll() is None and time.time() < deadline, "first run ended before any part was written"
            time.sleep(0.05)
        driver = _driver_pid(first.pid)
        os.kill(driver, signal.SIGKILL)  # the driver dies; its lock stays behind
        first.wait(timeout=30)
    finally:
        _stop(first)
    assert (out / "_job" / "lock.json").exists() and not (out / "results.parquet").exists()

    retry = subprocess.run([*env_i, "/bin/sh", "-c", commands[1]], timeout=300)
    log = (tmp_path / "cron.log").read_text()
    assert retry.returncode == 0, log[-4000:]
    assert "taking over the job lock" in log  # dead driver on this host: taken over without a flag
    _check_results(out, 24)


def _driver_pid(shell_pid: int) -> int:
    """The python driver started by ``sh -c`` (``sh`` may exec it directly or run it as a child)."""

    def is_driver(pid: int | str) -> bool:
        return b"jobs.synthesize" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")

    for _ in range(50):
        if is_driver(shell_pid):
            return shell_pid
        for child in Path(f"/proc/{shell_pid}/task/{shell_pid}/children").read_text().split():
            if is_driver(child):
                return int(child)
        time.sleep(0.1)
    raise AssertionError("driver process not found")
