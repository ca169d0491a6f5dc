"""dreamer_tf.plotting: one curve per config of fake runs, against the paper's data."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dreamer_tf import plotting

REPOSITORY = Path(__file__).resolve().parents[1]
SCRIPT = REPOSITORY / "examples" / "plot.py"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FRAMES = np.arange(0, 300_001, 50_000)
WARNING = (
    "warning: the runs' configs differ in batch_size; plotting one curve per config."
)


def fake_returns(seed: int, slope: float) -> np.ndarray:
    return slope * FRAMES / 50_000 + 10 * seed


def fake_run(directory: Path, seed: int, slope=100.0, truncate=False, **config):
    """A logdir with train and eval events, and its task and config in config.json."""
    directory.mkdir(parents=True)
    config = {"task": "dmc_walker_walk", "seed": seed, **config}
    (directory / "config.json").write_text(json.dumps(config))
    lines = []
    for frames, value in zip(FRAMES, fake_returns(seed, slope)):
        record = {"frames": int(frames), "time": 0.0}
        lines.append(json.dumps({**record, "train/kl": 3.0}))
        lines.append(json.dumps({**record, "eval/return": value}))
    text = "\n".join(lines) + "\n"
    if truncate:
        text += '{"frames": 350000, "eval/ret'
    (directory / "metrics.jsonl").write_text(text)
    return directory


def two_configs(root: Path) -> list[str]:
    """Seeds 0 and 1 of batch_size 16, seeds 2 and 3 of batch_size 32.

    The seeds of a config also differ in bookkeeping fields, which must not
    split them.
    """
    return [
        str(fake_run(root / "a0", 0, batch_size=16, steps=300_000)),
        str(fake_run(root / "a1", 1, batch_size=16, steps=10**6, log_every=500)),
        str(fake_run(root / "b2", 2, slope=50.0, batch_size=32)),
        str(fake_run(root / "b3", 3, slope=50.0, batch_size=32, eval_every=5000)),
    ]


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


def figure_of(run_dirs, labels=(), task=None, paper_range=False):
    comparison = plotting.compare(run_dirs, task, labels)
    return plotting.make_figure(comparison, paper_range)


def lines_by_label(figure) -> dict:
    return {line.get_label(): line for line in figure.axes[0].get_lines()}


def test_two_configs_of_two_seeds_are_two_curves_of_their_means(tmp_path, capsys):
    runs = two_configs(tmp_path)
    lines = lines_by_label(figure_of(runs))
    ours = {label: line for label, line in lines.items() if "runs)" in label}
    assert sorted(ours) == ["batch_size=16 (2 runs)", "batch_size=32 (2 runs)"]
    small, large = ours["batch_size=16 (2 runs)"], ours["batch_size=32 (2 runs)"]
    np.testing.assert_allclose(small.get_xdata(), FRAMES)
    expected = np.mean([fake_returns(0, 100), fake_returns(1, 100)], 0)
    np.testing.assert_allclose(small.get_ydata(), expected)
    expected = np.mean([fake_returns(2, 50), fake_returns(3, 50)], 0)
    np.testing.assert_allclose(large.get_ydata(), expected)
    assert small.get_color() != large.get_color()
    assert plotting.main([*runs, "--output", str(tmp_path / "ab.png")]) == 0
    assert capsys.readouterr().err.strip().split("\n") == [WARNING]


def test_runs_of_one_config_are_one_curve_without_a_warning(tmp_path, capsys):
    runs = [
        fake_run(tmp_path / f"seed{seed}", seed, truncate=seed == 1) for seed in (0, 1)
    ]
    output = tmp_path / "plots" / "curves.png"
    assert plotting.main([*map(str, runs), "--output", str(output)]) == 0
    assert capsys.readouterr().err == ""
    data = output.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000
    lines = lines_by_label(figure_of(runs))
    expected = np.mean([fake_returns(0, 100), fake_returns(1, 100)], 0)
    np.testing.assert_allclose(lines["dreamer_tf (2 runs)"].get_ydata(), expected)


def test_labels_name_the_curve_of_a_runs_config(tmp_path):
    runs = two_configs(tmp_path)
    # Either side may hold "=": the split is where a run's path follows.
    named = tmp_path / "lr=1"
    runs.append(str(fake_run(named, 0, slope=10.0, batch_size=64)))
    labels = ["small=" + runs[1], f"model_lr=1={named}"]
    lines = lines_by_label(figure_of(runs, labels))
    ours = [label for label in lines if label.endswith(("run)", "runs)"))]
    assert ours == ["small (2 runs)", "batch_size=32 (2 runs)", "model_lr=1 (1 run)"]


def test_labels_that_do_not_fit_the_runs_are_refused(tmp_path):
    runs = two_configs(tmp_path)
    a0, a1, b2, _ = runs
    cases = {
        "names no run to plot": [f"x={tmp_path / 'nowhere'}"],
        "name runs of one config": [f"a={a0}", f"b={a1}"],
        "two curves would be labelled 'same'": [f"same={a0}", f"same={b2}"],
    }
    for message, labels in cases.items():
        with pytest.raises(ValueError, match=message):
            plotting.compare(runs, labels=labels)


def test_a_run_without_config_is_its_own_curve_named_after_its_directory(
    tmp_path, capsys
):
    runs = two_configs(tmp_path)[:2]
    (Path(runs[1]) / "config.json").unlink()
    lines = lines_by_label(figure_of(runs, task="dmc_walker_walk"))
    assert {"dreamer_tf (1 run)", "a1 (1 run)"} <= set(lines)
    plotting.plot(runs, str(tmp_path / "x.png"), task="dmc_walker_walk")
    warning = capsys.readouterr().err.strip()
    assert warning == (
        "warning: the runs' configs differ or are unknown (no config.json in "
        f"{runs[1]}); plotting one curve per config."
    )


def test_runs_of_different_tasks_need_task(tmp_path):
    runs = [str(fake_run(tmp_path / task, 0, task=task)) for task in ("dmc_a", "dmc_b")]
    with pytest.raises(ValueError, match="pass --task"):
        plotting.compare(runs)
    lines = lines_by_label(figure_of(runs, task="dmc_walker_walk"))
    assert {"task=dmc_a (1 run)", "task=dmc_b (1 run)"} <= set(lines)


def test_x_range_fits_the_runs_unless_the_paper_range_is_asked_for(tmp_path):
    run = [str(fake_run(tmp_path / "run", 0))]
    figure = figure_of(run)
    left, right = figure.axes[0].get_xlim()
    assert (left, right) == pytest.approx((-9000, 309_000))
    paper = lines_by_label(figure)["Dreamer paper (5 seeds, mean and min-max)"]
    # The paper's curve reaches the right edge, marked at its evaluations only.
    np.testing.assert_allclose(
        paper.get_xdata(), [5000, 105_000, 205_000, 305_000, right]
    )
    assert paper.get_markevery() == [0, 1, 2, 3]
    figure = figure_of(run, paper_range=True)
    left, right = figure.axes[0].get_xlim()
    assert left < 0 and 4_905_000 < right < 5_100_000
    paper = lines_by_label(figure)["Dreamer paper (5 seeds, mean and min-max)"]
    assert paper.get_xdata()[-1] == 4_905_000
    assert len(paper.get_markevery()) == len(paper.get_xdata()) == 50


def test_short_run_is_drawn_next_to_the_paper_curve(tmp_path):
    run = short_run(tmp_path / "quick")
    figure = figure_of([str(run)])
    lines = lines_by_label(figure)
    np.testing.assert_allclose(
        lines["dreamer_tf (1 run)"].get_xydata(), [[2000, 120], [3000, 140]]
    )
    # Shown up to the paper's first evaluation, at 5k frames, where its five
    # seeds score 134.6 to 136.1.
    left, right = figure.axes[0].get_xlim()
    assert (left, right) == pytest.approx((1910, 5090))
    paper = lines["Dreamer paper (5 seeds, mean and min-max)"]
    np.testing.assert_allclose(paper.get_xdata(), [5000, right])
    assert 134 < paper.get_ydata()[0] < 137
    assert paper.get_markevery() == [0]


def test_eval_only_results_are_their_own_series(tmp_path):
    run = short_run(tmp_path / "quick", eval_only_return=150.0)
    lines = lines_by_label(figure_of([str(run)]))
    np.testing.assert_allclose(lines["dreamer_tf (1 run)"].get_ydata(), [120, 140])
    eval_only = lines["dreamer_tf, --eval_only"]
    np.testing.assert_allclose(eval_only.get_xydata(), [[3000, 150]])
    assert eval_only.get_color() == lines["dreamer_tf (1 run)"].get_color()


def test_unknown_task_warns_and_plots_ours(tmp_path, capsys):
    runs = [
        str(fake_run(tmp_path / agent, 0, task="atari_pong", agent=agent))
        for agent in ("dreamer", "dreamerv2")
    ]
    output = tmp_path / "pong"
    plotting.plot(runs, str(output))
    assert output.read_bytes().startswith(PNG_SIGNATURE)
    warnings = capsys.readouterr().err.strip().split("\n")
    assert warnings[1:] == [
        f"warning: no {name} paper data for task 'atari_pong'; plotting without "
        "its curve."
        for name in ("Dreamer", "DreamerV2")
    ]


V1_PAPER = "Dreamer paper (5 seeds, mean and min-max)"
V2_PAPER = "DreamerV2 paper (5 seeds, mean and min-max)"


def cartpole_runs(root: Path) -> dict:
    """Cartpole runs of each agent: the paper's Dreamer is also a run without
    ``agent`` in its config.json, or without config.json."""
    task = "dmc_cartpole_balance"
    runs = {
        agent: str(fake_run(root / agent, 0, task=task, agent=agent))
        for agent in ("dreamer", "dreamerv2")
    }
    runs["no agent"] = str(fake_run(root / "old", 1, task=task))
    runs["no config"] = str(fake_run(root / "bare", 2, task=task))
    (Path(runs["no config"]) / "config.json").unlink()
    return runs


@pytest.mark.parametrize(
    "kinds, papers",
    [
        (["dreamer"], [V1_PAPER]),
        (["no agent"], [V1_PAPER]),
        (["no config"], [V1_PAPER]),
        (["dreamerv2"], [V2_PAPER]),
        (["dreamerv2", "dreamer"], [V1_PAPER, V2_PAPER]),
        (["no config", "dreamerv2"], [V1_PAPER, V2_PAPER]),
    ],
)
def test_the_paper_curves_are_those_of_the_runs_agents(tmp_path, kinds, papers):
    runs = cartpole_runs(tmp_path)
    chosen = [runs[kind] for kind in kinds]
    comparison = plotting.compare(chosen, task="dmc_cartpole_balance")
    names = [
        f"{paper.name} paper (5 seeds, mean and min-max)" for paper in comparison.papers
    ]
    assert names == papers
    for paper, curves in comparison.papers.items():
        assert len(curves) == 5
        expected = plotting.paper_curves("dmc_cartpole_balance", paper)
        for (xs, ys), (expected_xs, expected_ys) in zip(curves, expected):
            np.testing.assert_array_equal(xs, expected_xs)
            np.testing.assert_array_equal(ys, expected_ys)
    lines = lines_by_label(plotting.make_figure(comparison))
    assert [label for label in lines if "paper" in label] == papers
    if len(papers) == 2:
        assert lines[V1_PAPER].get_color() != lines[V2_PAPER].get_color()


def test_the_dreamerv2_paper_curve_is_drawn_from_its_first_bin(tmp_path):
    run = fake_run(tmp_path / "v2", 0, task="dmc_cartpole_balance", agent="dreamerv2")
    figure = figure_of([str(run)])
    lines = lines_by_label(figure)
    left, right = figure.axes[0].get_xlim()
    assert (left, right) == pytest.approx((-9000, 309_000))
    paper = lines[V2_PAPER]
    # Its points every 30k frames, and the right edge, as for the Dreamer paper.
    np.testing.assert_allclose(
        paper.get_xdata(), [*range(30_000, 300_001, 30_000), right]
    )
    assert paper.get_markevery() == list(range(10))
    # The five seeds' first 30k-frame bins average 281 to 330.
    assert 300 < paper.get_ydata()[0] < 310
    assert paper.get_color() == plotting.DREAMERV2_PAPER.color


def test_the_dreamerv2_paper_data_are_the_authors_dmc_vision_scores():
    records = plotting.read_data("dreamerv2_paper_scores.json")
    dreamer = plotting.read_data("paper_scores.json")
    assert len(records) == 100
    assert {record["method"] for record in records} == {"dreamerv2"}
    assert {record["task"] for record in records} == {r["task"] for r in dreamer}
    for record in records:
        assert list(record) == ["task", "method", "seed", "xs", "ys"]
        assert len(record["xs"]) == len(record["ys"]) == 66
        # Environment frames (the authors log agent steps times the action
        # repeat of 2), 30k-frame bins, up to 2M.
        np.testing.assert_array_equal(record["xs"], np.arange(1, 67) * 30_000.0)
    cartpole = plotting.paper_curves("dmc_cartpole_balance", plotting.DREAMERV2_PAPER)
    assert len(cartpole) == 5
    seeds = [
        record["seed"] for record in records if record["task"] == "dmc_cartpole_balance"
    ]
    assert sorted(seeds) == ["0", "1", "2", "3", "4"]
    assert all(900 < ys[-1] <= 1000 for _, ys in cartpole)


def test_curve_helpers():
    xs, mean, low, high = plotting.aggregate(
        [
            (np.array([0.0, 10.0]), np.array([0.0, 10.0])),
            (np.array([0.0, 5.0]), np.array([2.0, 2.0])),
        ]
    )
    np.testing.assert_allclose(xs, [0, 5, 10])
    np.testing.assert_allclose(mean, [1, 3.5, 10])
    np.testing.assert_allclose(low, [0, 2, 10])
    np.testing.assert_allclose(high, [2, 5, 10])
    curve = (np.array([5.0, 105.0, 205.0]), np.array([0.0, 100.0, 300.0]))
    np.testing.assert_allclose(
        plotting.clip_curve(curve, 155.0), [[5, 105, 155], [0, 100, 200]]
    )
    np.testing.assert_allclose(plotting.clip_curve(curve, 105.0), [[5, 105], [0, 100]])
    np.testing.assert_allclose(plotting.clip_curve(curve, 900.0), curve)
    paper = plotting.paper_curves("dmc_walker_walk")
    assert len(paper) == 5 and all(len(xs) == len(ys) > 10 for xs, ys in paper)


def bad_inputs(root: Path) -> dict:
    good = str(fake_run(root / "good", 0))
    (root / "empty").mkdir()
    no_evaluations = fake_run(root / "train_only", 0)
    (no_evaluations / "metrics.jsonl").write_text('{"frames": 0, "train/kl": 3.0}\n')
    (root / "file").write_text("")
    output = str(root / "out.png")
    return {
        "missing run dir": (
            [good, str(root / "missing"), "--output", output],
            "is not a directory",
        ),
        "no metrics": (
            [good, str(root / "empty"), "--output", output],
            "metrics.jsonl does not exist",
        ),
        "no evaluations": (
            [good, str(no_evaluations), "--output", output],
            "has no evaluations",
        ),
        "unwritable output": (
            [good, "--output", str(root / "file" / "x.png")],
            "cannot write",
        ),
        "unknown format": (
            [good, "--output", str(root / "x.nothing")],
            "no image format",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing run dir",
        "no metrics",
        "no evaluations",
        "unwritable output",
        "unknown format",
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, case):
    argv, message = bad_inputs(tmp_path)[case]
    assert plotting.main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("dreamer-tf plot: error: ") and error.count("\n") == 1
    assert message in error
    assert not [
        path for path in tmp_path.rglob("*") if path.suffix in (".png", ".nothing")
    ]


def run_script(*arguments):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, arguments)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPOSITORY,
    )


def test_the_example_script_is_the_program(tmp_path):
    runs = two_configs(tmp_path)
    output = tmp_path / "ab.png"
    # Older scripts give the runs after --runs.
    result = run_script("--runs", *runs, "--output", output)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == WARNING
    assert result.stdout.strip() == f"wrote {output}"
    assert output.read_bytes().startswith(PNG_SIGNATURE)
    result = run_script(tmp_path / "missing", "--output", tmp_path / "x.png")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_importing_the_module_imports_no_tensorflow():
    code = "import sys, dreamer_tf.plotting; print('tensorflow' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
