"""A run joins a Ray cluster started with ``ray start --head`` (issue 21).

Ray 2.60 turns token authentication on for a head started while
``~/.ray/auth_token`` exists, and ``ray.init(address=host:port)`` sends the
token only with ``RAY_AUTH_MODE=token``. The run must join such a cluster
with nothing set but the token file, train on its actors, and give their
CPUs back at its end; without the token it must say so in one line.
"""

import importlib.util
import pathlib
import subprocess
import sys
import time

import pytest
from support.actor_envs import origin
from support.run_program import TrainingProgram, free_ports, output
from support.run_program import environment as environment_of_runs

from dreamer_tf.replay import load_episode

pytestmark = [
    pytest.mark.program,
    pytest.mark.skipif(
        importlib.util.find_spec("ray") is None,
        reason="Ray is not installed (pip install -e '.[distributed]')",
    ),
]

PROGRAM = TrainingProgram(
    "gym_support.actor_envs:SeededPoint-v0", flags=("--observation=proprio",)
)
RAY = str(pathlib.Path(sys.executable).parent / "ray")
CLUSTER_CPUS = 2


def ray_environment(home: pathlib.Path) -> dict[str, str]:
    """The runs' environment with ``home`` as HOME and no Ray settings.

    The head's workers import the test task from ``tests/``, as every node of
    a cluster needs the run's environments.
    """
    environment = {**environment_of_runs(), "HOME": str(home)}
    for name in (
        "RAY_AUTH_MODE",
        "RAY_AUTH_TOKEN",
        "RAY_AUTH_TOKEN_PATH",
        "RAY_ADDRESS",
    ):
        environment.pop(name, None)
    return environment


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    """A Ray head on this machine (2 CPUs) whose node holds a token file."""
    home = tmp_path_factory.mktemp("home")
    environment = ray_environment(home)
    subprocess.run(
        [RAY, "get-auth-token", "--generate"],
        env=environment,
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert (home / ".ray" / "auth_token").is_file()
    address = f"127.0.0.1:{free_ports(1)[0]}"
    start = [RAY, "start", "--head", f"--port={address.split(':')[1]}"]
    start += [f"--num-cpus={CLUSTER_CPUS}", "--include-dashboard=false"]
    started = subprocess.run(
        [*start, "--disable-usage-stats"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    try:
        assert started.returncode == 0, started.stderr[-3000:]
        yield address, home
    finally:
        subprocess.run(
            [RAY, "stop", "--force"], env=environment, capture_output=True, timeout=120
        )


def free_cpus(address: str, home: pathlib.Path) -> float:
    """The CPUs of the cluster that no actor holds, asked as a new driver."""
    script = (
        "import ray, sys\n"
        "ray.init(address=sys.argv[1], log_to_driver=False)\n"
        "print(ray.available_resources().get('CPU', 0.0))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, address],
        env={**ray_environment(home), "RAY_AUTH_MODE": "token"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return float(result.stdout.strip().splitlines()[-1])


def test_a_run_joins_with_the_token_file_and_releases_its_actors(head, tmp_path):
    address, home = head
    logdir = tmp_path / "run"
    result = PROGRAM.run(
        logdir,
        "--actors=2",
        "--actor_backend=ray",
        f"--ray_address={address}",
        "--steps=400",
        HOME=str(home),
    )
    assert result.returncode == 0, output(result)
    assert "actors started: pids" in result.stdout, output(result)
    paths = sorted((logdir / "episodes").glob("*.npz"))
    actors = {origin(load_episode(path)["vector"][0])[0] for path in paths}
    assert len(actors) == 2, actors  # both actors played
    deadline = time.monotonic() + 60
    while (free := free_cpus(address, home)) < CLUSTER_CPUS:
        assert time.monotonic() < deadline, f"{free} CPUs free after the run"
        time.sleep(2)


def test_without_the_token_one_line_says_what_to_do(head, tmp_path):
    address, _ = head
    logdir = tmp_path / "run"
    stranger = tmp_path / "home"  # a node without the cluster's token
    stranger.mkdir()
    result = PROGRAM.run(
        logdir,
        "--actors=2",
        "--actor_backend=ray",
        f"--ray_address={address}",
        HOME=str(stranger),
    )
    assert result.returncode == 1, output(result)
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cannot join the Ray cluster: "), last
    assert "copy its token ('ray get-auth-token' there) to ~/.ray/auth_token" in last
    assert "Traceback" not in result.stderr
    assert not (logdir / "checkpoints").exists()
