"""Tests of dreamer_tf.replay."""

import logging
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from dreamer_tf.replay import (
    Replay,
    check_episode,
    count_episodes,
    find_nonfinite,
    load_episode,
    save_episode,
    steps_from_file_name,
)

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


def make_episode(steps: int, episode_id: int = 0, image_size: int = 8) -> dict:
    """An episode whose entries encode their episode id and step index."""
    entries = steps + 1
    index = np.arange(entries)
    image = np.zeros((entries, image_size, image_size, 3), np.uint8)
    image[:, 0, 0, 0] = episode_id
    image[:, 0, 0, 1] = index % 256
    return {
        "image": image,
        "episode_id": np.full((entries, 1), episode_id, np.float32),
        "step": index.astype(np.int64),
        "is_first": index == 0,
        "action": np.where(index[:, None] == 0, 0.0, 0.5).astype(np.float32)
        * np.ones(2),
        "reward": np.where(index == 0, 0.0, 1.0).astype(np.float32),
        "discount": np.ones(entries, np.float32),
    }


class TestEpisodeFiles:
    def test_round_trip_and_name_carries_steps(self, tmp_path):
        episode = make_episode(7, episode_id=3)
        path = save_episode(tmp_path, episode)
        assert steps_from_file_name(path) == 7
        loaded = load_episode(path)
        assert set(loaded) == set(episode)
        for key, value in episode.items():
            np.testing.assert_array_equal(loaded[key], value)
            assert loaded[key].dtype == check_episode(episode)[key].dtype
        assert loaded["image"].dtype == np.uint8 and loaded["is_first"].dtype == bool
        assert [p.name for p in tmp_path.iterdir()] == [path.name]

    def test_count_episodes_from_names_only(self, tmp_path):
        for steps in (5, 9, 11):
            save_episode(tmp_path, make_episode(steps))
        (tmp_path / "notes.txt").write_text("not an episode")
        assert count_episodes(tmp_path) == (3, 25)
        assert count_episodes(tmp_path / "missing") == (0, 0)

    @pytest.mark.parametrize(
        "change, message",
        [
            (lambda episode: episode.pop("discount"), "required keys"),
            (
                lambda episode: episode.update(reward=np.zeros(3, np.float32)),
                "leading length",
            ),
        ],
    )
    def test_malformed_episodes_are_rejected(self, change, message):
        episode = make_episode(5)
        change(episode)
        with pytest.raises(ValueError, match=message):
            check_episode(episode)

    def test_writes_are_atomic_under_sigkill(self, tmp_path):
        writer = textwrap.dedent(
            f"""
            import numpy as np
            from dreamer_tf.replay import save_episode
            rng = np.random.default_rng(0)
            episode = {{
                "image": rng.integers(0, 256, (1001, 64, 64, 3), dtype=np.uint8),
                "action": np.zeros((1001, 6), np.float32),
                "reward": np.zeros(1001, np.float32),
                "discount": np.ones(1001, np.float32),
            }}
            while True:
                save_episode({str(tmp_path)!r}, episode)
            """
        )
        process = subprocess.Popen(
            [sys.executable, "-c", writer],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
        try:
            deadline = time.monotonic() + 60
            # Kill while a second write is in progress: its temporary file (or,
            # were writes not atomic, its partial .npz) exists next to a
            # finished episode.
            while time.monotonic() < deadline:
                names = [path.name for path in tmp_path.iterdir()]
                episodes = sum(name.endswith(".npz") for name in names)
                in_progress = any(name.endswith(".part") for name in names)
                if episodes >= 2 or (episodes and in_progress):
                    time.sleep(0.05)
                    break
                time.sleep(0.01)
            else:
                pytest.fail("The writer never wrote an episode.")
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        finished = sorted(tmp_path.glob("*.npz"))
        assert finished
        for path in finished:
            assert load_episode(path)["image"].shape == (1001, 64, 64, 3)
        leftovers = [p for p in tmp_path.iterdir() if not p.name.endswith(".npz")]
        assert leftovers  # The kill interrupted a write.
        replay = Replay(tmp_path)
        assert replay.num_episodes == len(finished)
        assert replay.skipped_files == len(leftovers)


class TestReplayLoading:
    def test_corrupt_truncated_and_foreign_files_are_skipped_and_counted(
        self, tmp_path, caplog
    ):
        good = save_episode(tmp_path, make_episode(10, episode_id=1))
        data = good.read_bytes()
        truncated = tmp_path / good.name.replace(good.name[:8], "19990101")
        truncated.write_bytes(data[: len(data) // 2])
        garbage = tmp_path / good.name.replace(good.name[:8], "19990102")
        garbage.write_bytes(b"\x00garbage" * 100)
        flipped = bytearray(data)
        flipped[len(flipped) // 3] ^= 0xFF  # Breaks the CRC of compressed data.
        corrupt = tmp_path / good.name.replace(good.name[:8], "19990103")
        corrupt.write_bytes(bytes(flipped))
        foreign_npz = tmp_path / "weights.npz"
        np.savez(foreign_npz, kernel=np.zeros(3))
        wrong_length = tmp_path / good.name.replace("-10.npz", "-99.npz")
        shutil.copy(good, wrong_length)
        (tmp_path / "README.txt").write_text("hello")
        (tmp_path / "subdirectory").mkdir()

        with caplog.at_level(logging.WARNING, logger="dreamer_tf.replay"):
            replay = Replay(tmp_path)
        assert replay.num_episodes == 1
        assert replay.skipped_files == 6
        warned = [record for record in caplog.records if "skips" in record.getMessage()]
        assert len(warned) == 6
        for path in (truncated, garbage, corrupt, foreign_npz, wrong_length):
            assert sum(path.name in record.getMessage() for record in warned) == 1
        batch = replay.sample(4, 5)
        assert np.all(batch["episode_id"] == 1)

    def test_restart_keeps_episodes(self, tmp_path):
        first = Replay(tmp_path)
        for episode_id in range(3):
            first.add(make_episode(10 + episode_id, episode_id))
        second = Replay(tmp_path)
        assert (second.num_episodes, second.num_steps) == (3, 33)
        assert second.skipped_files == 0


def signature_of(episode: dict) -> dict:
    return {key: (value.dtype, value.shape[1:]) for key, value in episode.items()}


def warnings_naming(records, path) -> list[str]:
    messages = [record.getMessage() for record in records]
    return [message for message in messages if path.name in message]


class TestReplayTrustsData:
    def test_random_bytes_npz_is_not_called_pickled_data(self, tmp_path, caplog):
        good = save_episode(tmp_path, make_episode(10))
        random_bytes = tmp_path / good.name.replace(good.name[:8], "19990101")
        random_bytes.write_bytes(np.random.default_rng(0).bytes(5000))
        with caplog.at_level(logging.WARNING, logger="dreamer_tf.replay"):
            replay = Replay(tmp_path)
        assert replay.num_episodes == 1
        (message,) = warnings_naming(caplog.records, random_bytes)
        assert "not a zip" in message and "pickled" not in message

    def test_newest_file_with_other_shapes_does_not_become_the_reference(
        self, tmp_path, caplog
    ):
        expected = signature_of(check_episode(make_episode(10)))
        for episode_id in range(3):
            save_episode(tmp_path, make_episode(10, episode_id))
        newest = save_episode(tmp_path, make_episode(10, 9, image_size=4))
        with caplog.at_level(logging.WARNING, logger="dreamer_tf.replay"):
            replay = Replay(tmp_path, signature=expected)
        assert replay.num_episodes == 3 and replay.skipped_files == 1
        (message,) = warnings_naming(caplog.records, newest)
        assert "image" in message and "(4, 4, 3)" in message
        assert set(replay.sample(50, 5)["episode_id"].ravel()) == {0, 1, 2}

    def test_steps_are_counted_from_data_not_names(self, tmp_path):
        for episode_id in range(3):
            save_episode(tmp_path, make_episode(10, episode_id))
        foreign = save_episode(tmp_path / "elsewhere", make_episode(7))
        shutil.copy(foreign, tmp_path / foreign.name.replace("-7.npz", "-99999999.npz"))
        (tmp_path / f"20990101T000000000000-{'0' * 32}-500.npz").write_bytes(b"x")
        replay = Replay(tmp_path)
        assert replay.total_steps == 30 and replay.skipped_files == 2
        assert count_episodes(tmp_path)[1] > 100_000_000  # Names lie.

    def test_files_beyond_capacity_count_when_their_rewards_check_out(self, tmp_path):
        for episode_id in range(4):
            save_episode(tmp_path, make_episode(10, episode_id))
        oldest = min(tmp_path.glob("*.npz"))
        oldest.write_bytes(oldest.read_bytes()[:100])
        replay = Replay(tmp_path, capacity_frames=20)
        assert (replay.num_episodes, replay.total_steps) == (2, 30)
        assert replay.skipped_files == 1

    def test_non_finite_episodes_are_refused_and_skipped(self, tmp_path, caplog):
        replay = Replay(tmp_path)
        replay.add(make_episode(10, 0))
        poisoned = make_episode(10, 1)
        poisoned["reward"][4] = np.nan
        assert find_nonfinite(poisoned) == "reward at step 4"
        with pytest.raises(ValueError, match="non-finite reward at step 4"):
            replay.add(poisoned)
        vector = make_episode(10, 2)
        vector["episode_id"][7, 0] = np.inf
        path = save_episode(tmp_path, vector)
        with caplog.at_level(logging.WARNING, logger="dreamer_tf.replay"):
            reloaded = Replay(tmp_path)
        assert (reloaded.num_episodes, reloaded.total_steps) == (1, 10)
        (message,) = warnings_naming(caplog.records, path)
        assert "episode_id at step 7" in message

    def test_episode_files_are_readable_by_others(self, tmp_path):
        path = Replay(tmp_path).add(make_episode(5))
        assert path.stat().st_mode & 0o777 == 0o644


class TestLatest:
    def test_most_recent_episodes_oldest_first_across_restarts(self, tmp_path):
        replay = Replay(tmp_path)
        for episode_id in range(4):
            replay.add(make_episode(5, episode_id))
        ids = [int(episode["episode_id"][0, 0]) for episode in replay.latest(2)]
        assert ids == [2, 3]
        reloaded = Replay(tmp_path)
        assert [int(e["episode_id"][0, 0]) for e in reloaded.latest(10)] == [
            0,
            1,
            2,
            3,
        ]
        assert replay.latest(0) == []


class TestCapacity:
    def test_evicts_oldest_from_ram_only(self, tmp_path):
        replay = Replay(tmp_path, capacity_frames=60, action_repeat=2)  # 30 steps.
        for episode_id in range(5):
            replay.add(make_episode(10, episode_id))
            assert replay.num_steps <= 30
        assert replay.num_episodes == 3
        assert count_episodes(tmp_path) == (5, 50)
        ids = {
            int(v)
            for v in replay.sample(200, 3, np.random.default_rng(0))[
                "episode_id"
            ].ravel()
        }
        assert ids == {2, 3, 4}

    def test_evicts_from_disk_when_asked(self, tmp_path):
        replay = Replay(tmp_path, capacity_frames=30, evict_from_disk=True)
        for episode_id in range(5):
            replay.add(make_episode(10, episode_id))
        assert replay.num_episodes == 3
        assert count_episodes(tmp_path) == (3, 30)
        remaining = sorted(
            load_episode(p)["episode_id"][0, 0] for p in tmp_path.glob("*.npz")
        )
        assert remaining == [2, 3, 4]

    def test_restart_loads_newest_within_capacity(self, tmp_path):
        unbounded = Replay(tmp_path)
        for episode_id in range(5):
            unbounded.add(make_episode(10, episode_id))
        kept = Replay(tmp_path, capacity_frames=25)
        assert kept.num_episodes == 2
        assert count_episodes(tmp_path) == (5, 50)
        ids = {
            int(v)
            for v in kept.sample(100, 3, np.random.default_rng(0))["episode_id"].ravel()
        }
        assert ids == {3, 4}
        Replay(tmp_path, capacity_frames=25, evict_from_disk=True)
        assert count_episodes(tmp_path) == (2, 20)

    def test_newest_episode_is_kept_even_above_capacity(self, tmp_path):
        replay = Replay(tmp_path, capacity_frames=5)
        replay.add(make_episode(10, 0))
        replay.add(make_episode(12, 1))
        assert (replay.num_episodes, replay.num_steps) == (1, 12)


class TestSampling:
    def test_windows_lie_inside_one_episode(self, tmp_path):
        replay = Replay(tmp_path, seed=0)
        lengths = {0: 3, 1: 20, 2: 9, 3: 50}  # Steps; entries are steps + 1.
        for episode_id, steps in lengths.items():
            replay.add(make_episode(steps, episode_id))
        batch = replay.sample(500, 10)
        assert batch["image"].shape == (500, 10, 8, 8, 3)
        assert batch["image"].dtype == np.uint8
        assert batch["is_first"].dtype == bool
        assert (
            batch["action"].dtype == np.float32 and batch["reward"].dtype == np.float32
        )
        ids = batch["episode_id"][..., 0]
        assert np.all(ids == ids[:, :1])  # One episode per window.
        assert np.all(np.diff(batch["step"], axis=1) == 1)  # Contiguous.
        np.testing.assert_array_equal(batch["image"][:, :, 0, 0, 0], ids)
        np.testing.assert_array_equal(batch["image"][:, :, 0, 0, 1], batch["step"])
        for episode_id, steps in lengths.items():
            chosen = ids[:, 0] == episode_id
            assert np.all(batch["step"][chosen, -1] <= steps)
        assert set(ids[:, 0].astype(int)) == {1, 2, 3}  # Episode 0 is too short.
        assert np.all(batch["is_first"] == (batch["step"] == 0))

    def test_uniform_over_episodes_then_windows(self, tmp_path):
        replay = Replay(tmp_path)
        replay.add(make_episode(10, 0))
        replay.add(make_episode(100, 1))
        batch = replay.sample(4000, 5, np.random.default_rng(1))
        share_of_short = np.mean(batch["episode_id"][:, 0, 0] == 0)
        assert 0.45 < share_of_short < 0.55
        starts = batch["step"][batch["episode_id"][:, 0, 0] == 1, 0]
        assert starts.min() == 0 and starts.max() == 96

    def test_no_long_enough_episode_raises(self, tmp_path):
        replay = Replay(tmp_path)
        replay.add(make_episode(5))
        with pytest.raises(ValueError, match="No episode in the replay has 7 entries"):
            replay.sample(2, 7)

    def test_seeded_sampling_is_reproducible(self, tmp_path):
        replay = Replay(tmp_path)
        for episode_id in range(4):
            replay.add(make_episode(30, episode_id))
        first = replay.sample(8, 5, np.random.default_rng(3))
        second = replay.sample(8, 5, np.random.default_rng(3))
        for key in first:
            np.testing.assert_array_equal(first[key], second[key])
        assert (
            Replay(tmp_path, seed=1).sample(1, 5)["step"][0, 0]
            == (Replay(tmp_path, seed=1).sample(1, 5)["step"][0, 0])
        )

    def test_balance_ends_favours_the_last_window(self, tmp_path):
        plain = Replay(tmp_path)
        plain.add(make_episode(99))  # 100 entries: 91 windows of 10.
        balanced = Replay(tmp_path, balance_ends=True)
        rng = np.random.default_rng(0)
        plain_share = np.mean(plain.sample(3000, 10, rng)["step"][:, -1] == 99)
        balanced_share = np.mean(balanced.sample(3000, 10, rng)["step"][:, -1] == 99)
        assert plain_share < 0.03  # 1 / 91.
        assert 0.07 < balanced_share < 0.15  # 11 / 101.

    def test_dataset_batches(self, tmp_path):
        replay = Replay(tmp_path)
        for episode_id in range(3):
            replay.add(make_episode(20, episode_id))
        dataset = replay.dataset(batch_size=4, length=6, seed=0)
        assert dataset.element_spec["image"].shape == (4, 6, 8, 8, 3)
        assert dataset.element_spec["image"].dtype.name == "uint8"
        assert dataset.element_spec["is_first"].dtype.name == "bool"
        batch = next(iter(dataset))
        assert batch["image"].dtype.name == "uint8"
        steps = batch["step"].numpy()
        assert np.all(np.diff(steps, axis=1) == 1)
        ids = batch["episode_id"].numpy()[..., 0]
        assert np.all(ids == ids[:, :1])

    def test_empty_replay_has_no_dataset(self, tmp_path):
        with pytest.raises(ValueError, match="empty"):
            Replay(tmp_path).dataset(2, 3)


class TestMemory:
    def test_held_bytes_stay_close_to_raw_bytes(self, tmp_path):
        big = np.zeros((10_000, 8, 8, 3), np.uint8)
        replay = Replay(tmp_path)
        for episode_id in range(5):
            episode = make_episode(40, episode_id)
            # A view into a big buffer must not keep that buffer alive.
            episode["image"] = big[episode_id * 41 : (episode_id + 1) * 41]
            replay.add(episode)
        usage = replay.memory_usage()
        assert usage.raw_bytes > 5 * 41 * 8 * 8 * 3
        assert usage.ratio < 1.01
        reloaded = Replay(tmp_path).memory_usage()
        assert reloaded.raw_bytes == usage.raw_bytes
        assert reloaded.ratio < 1.01


def test_replay_module_imports_no_tensorflow():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, dreamer_tf.replay; print('tensorflow' in sys.modules)",
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
