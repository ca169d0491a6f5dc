"""examples/plot.py: curves of fake runs against the shipped paper data."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "plot.py"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def load_script():
    spec = importlib.util.spec_from_file_location("plot_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    # Dataclasses look their module up in sys.modules.
    sys.modules[spec.name] = module
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
    curve = (np.array([5.0, 105.0, 205.0, 305.0]), np.zeros(4))
    np.testing.assert_allclose(plot.paper_window(curve, 150.0)[0], [5, 105, 205])
    np.testing.assert_allclose(plot.paper_window(curve, 205.0)[0], [5, 105, 205])
    np.testing.assert_allclose(plot.paper_window(curve, 3.0)[0], [5, 105])
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


def short_run(directory: Path, eval_only_return=None):
    """A 3000-frame cartpole run as quick.flags leaves it; maybe an eval-only result."""
    directory.mkdir(parents=True)
    task = {"task": "dmc_cartpole_balance"}
    (directory / "config.json").write_text(json.dumps(task))
    records = [
        {"frames": 1000, "time": 0.0, "train/kl": 3.0},
        {"frames": 2000, "time": 0.0, "eval/return": 120.0, "eval/episodes": 1},
        {"frames": 3000, "time": 0.0, "eval/return": 140.0, "eval/episodes": 1},
    ]
    if eval_only_return is not None:
        records.append({"frames": 3000, "time": 0.0, "eval_only/return": 150.0})
    text = "".join(json.dumps(record) + "\n" for record in records)
    (directory / "metrics.jsonl").write_text(text)
    return directory


def lines_by_label(figure) -> dict[str, np.ndarray]:
    return {
        line.get_label(): line.get_xydata()
        for axes in figure.axes
        for line in axes.get_lines()
    }


def test_short_run_is_drawn_next_to_the_paper_curve(tmp_path):
    plot = load_script()
    run = short_run(tmp_path / "quick")
    figure = plot.make_figure(plot.read_runs([str(run)], None))
    lines = lines_by_label(figure)
    np.testing.assert_allclose(lines["dreamer_tf (1 run)"], [[2000, 120], [3000, 140]])
    paper = lines["Dreamer paper (5 seeds, mean and min-max)"]
    # The paper's first two evaluations, at their real frames; its five seeds
    # score 134.6 to 136.1 at 5k frames.
    np.testing.assert_allclose(paper[:, 0], [5000, 105000])
    assert 134 < paper[0, 1] < 137
    bands = [
        collection.get_paths()[0].vertices for collection in figure.axes[0].collections
    ]
    assert any(vertices[:, 0].max() == 105000 for vertices in bands)
    assert figure.axes[0].get_xlim()[1] >= 105000
    plot.plt.close(figure)


def test_eval_only_results_are_their_own_series(tmp_path):
    plot = load_script()
    run = short_run(tmp_path / "quick", eval_only_return=150.0)
    figure = plot.make_figure(plot.read_runs([str(run)], None))
    lines = lines_by_label(figure)
    np.testing.assert_allclose(lines["dreamer_tf (1 run)"][:, 1], [120, 140])
    np.testing.assert_allclose(lines["dreamer_tf, --eval_only"], [[3000, 150]])
    plot.plt.close(figure)
