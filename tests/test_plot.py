"""examples/plot.py: curves of fake runs against the shipped paper data."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "plot.py"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def load_script():
    spec = importlib.util.spec_from_file_location("plot_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_run(directory: Path, seed: int, task="dmc_walker_walk", truncate=False):
    """A logdir with train and eval events, and the task in config.json."""
    directory.mkdir(parents=True)
    (directory / "config.json").write_text(json.dumps({"task": task, "seed": seed}))
    lines = []
    for frames in range(0, 300_001, 50_000):
        lines.append(json.dumps({"frames": frames, "time": 0.0, "train/kl": 3.0}))
        ys = 100.0 * frames / 50_000 + 10 * seed
        lines.append(json.dumps({"frames": frames, "time": 0.0, "eval/return": ys}))
    text = "\n".join(lines) + "\n"
    if truncate:
        text += '{"frames": 350000, "eval/ret'
    (directory / "metrics.jsonl").write_text(text)
    return directory


def run_plot(*arguments, cwd=None):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, arguments)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def test_script_plots_two_seeds(tmp_path):
    runs = [
        fake_run(tmp_path / f"seed{seed}", seed, truncate=seed == 1) for seed in (0, 1)
    ]
    output = tmp_path / "plots" / "curves.png"
    result = run_plot("--runs", *runs, "--output", output)
    assert result.returncode == 0, result.stderr
    data = output.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000
    assert "warning" not in result.stderr


def test_bad_input_exits_with_one_line_error(tmp_path):
    good = fake_run(tmp_path / "good", 0)
    result = run_plot(
        "--runs", good, tmp_path / "missing", "--output", tmp_path / "x.png"
    )
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0
    assert "metrics.jsonl" in result.stderr
    assert not (tmp_path / "x.png").exists()


def test_curve_helpers():
    plot = load_script()
    xs, mean, low, high = plot.aggregate(
        [
            (np.array([0.0, 10.0]), np.array([0.0, 10.0])),
            (np.array([0.0, 5.0]), np.array([2.0, 2.0])),
        ]
    )
    np.testing.assert_allclose(xs, [0, 5, 10])
    np.testing.assert_allclose(mean, [1, 3.5, 10])
    np.testing.assert_allclose(low, [0, 2, 10])
    np.testing.assert_allclose(high, [2, 5, 10])
    xs, _ = plot.clip_to((np.array([5.0, 105.0, 205.0, 305.0]), np.zeros(4)), 150.0)
    np.testing.assert_allclose(xs, [5, 105, 205])
    paper = plot.paper_curves("dmc_walker_walk")
    assert len(paper) == 5 and all(len(xs) == len(ys) > 10 for xs, ys in paper)


def test_unknown_task_warns_and_plots_ours(tmp_path, capsys):
    plot = load_script()
    run = fake_run(tmp_path / "run", 0, task="atari_pong")
    output = tmp_path / "pong.png"
    plot.plot_curves([str(run)], None, str(output))
    assert output.read_bytes().startswith(PNG_SIGNATURE)
    assert "no paper data for task 'atari_pong'" in capsys.readouterr().err


def test_runs_of_different_tasks_need_task(tmp_path):
    plot = load_script()
    runs = [str(fake_run(tmp_path / task, 0, task=task)) for task in ("dmc_a", "dmc_b")]
    with pytest.raises(ValueError, match="pass --task"):
        plot.plot_curves(runs, None, str(tmp_path / "x.png"))
