"""dreamer_tf.allocator: tcmalloc found, preloaded by a restart, opted out of."""

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest
import tensorflow as tf

from dreamer_tf import allocator

MAPS = (
    "7f00-7f01 r-xp 00000000 08:01 1 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
    "7f02-7f03 r-xp 00000000 08:01 2 /opt/lib/libtcmalloc_minimal.so.4.5.10\n"
    "7f04-7f05 rw-p 00000000 00:00 0 \n"
)


def loaded_library(fragment: str) -> str:
    """The path of a shared library this process has mapped (``libm``)."""
    for line in pathlib.Path("/proc/self/maps").read_text().splitlines():
        path = line.split()[-1]
        if fragment in pathlib.Path(path).name:
            return path
    raise AssertionError(f"{fragment} is not mapped")


class AllocatorChoiceTest(tf.test.TestCase):
    def setUp(self):
        super().setUp()
        self.directory = pathlib.Path(self.get_temp_dir()) / "lib"
        self.directory.mkdir(exist_ok=True)
        self.library = self.directory / "libtcmalloc_minimal.so.4"
        self.library.write_bytes(b"")

    def test_choice_defaults_to_auto_and_refuses_other_words_in_one_line(self):
        self.assertEqual(allocator.choice({}), "auto")
        self.assertEqual(allocator.choice({"DREAMER_TF_ALLOCATOR": "System"}), "system")
        with pytest.raises(allocator.AllocatorError, match=r"^DREAMER_TF_ALLOC.*\.$"):
            allocator.choice({"DREAMER_TF_ALLOCATOR": "jemalloc"})

    def test_finds_the_library_only_where_it_is(self):
        self.assertEqual(allocator.find_tcmalloc([self.directory]), self.library)
        self.assertIsNone(allocator.find_tcmalloc([self.directory / "nothing"]))

    def test_preloads_it_before_what_was_preloaded_and_quiets_its_reports(self):
        environment = allocator.preload_environment(
            {"LD_PRELOAD": "/x/libother.so", "HOME": "/h"}, [self.directory]
        )
        self.assertEqual(environment["LD_PRELOAD"], f"{self.library} /x/libother.so")
        self.assertEqual(environment["HOME"], "/h")
        self.assertGreater(
            int(environment["TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD"]), 2**40
        )

    def test_an_existing_preload_is_kept_and_system_takes_it_out(self):
        preloaded = {"LD_PRELOAD": "/y/libtcmalloc.so.4:/x/libother.so"}
        kept = allocator.preload_environment(preloaded, [self.directory])
        self.assertEqual(kept["LD_PRELOAD"], preloaded["LD_PRELOAD"])
        system = allocator.preload_environment(
            {**preloaded, "DREAMER_TF_ALLOCATOR": "system"}, [self.directory]
        )
        self.assertEqual(system["LD_PRELOAD"], "/x/libother.so")
        self.assertNotIn("TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD", system)

    def test_missing_library_is_glibc_under_auto_and_an_error_when_asked_for(self):
        missing = [self.directory / "nothing"]
        self.assertNotIn("LD_PRELOAD", allocator.preload_environment({}, missing))
        with pytest.raises(allocator.AllocatorError, match="libtcmalloc-minimal4"):
            allocator.preload_environment({"DREAMER_TF_ALLOCATOR": "tcmalloc"}, missing)

    def test_describe_says_what_is_loaded_or_why_not(self):
        self.assertStartsWith(
            allocator.describe({}, MAPS), "tcmalloc (/opt/lib/libtcmalloc_minimal"
        )
        plain = MAPS.splitlines()[0]
        missing = [self.directory / "nothing"]
        self.assertIn("not found: apt install", allocator.describe({}, plain, missing))
        system = {"DREAMER_TF_ALLOCATOR": "system"}
        self.assertEqual(
            allocator.describe(system, plain),
            "glibc malloc (DREAMER_TF_ALLOCATOR=system)",
        )
        self.assertIn(
            "found, not loaded", allocator.describe({}, plain, [self.directory])
        )


RESTARTING_SCRIPT = textwrap.dedent(
    """
    import os, pathlib, sys
    from dreamer_tf import allocator
    print("start", sys.argv[1:], os.environ.get("LD_PRELOAD", ""), flush=True)
    directories = [pathlib.Path(sys.argv[1])] if sys.argv[1] else None
    allocator.reexec_under_tcmalloc(directories)
    print("running", allocator.loaded_tcmalloc() is not None, flush=True)
    """
)


class RestartTest(tf.test.TestCase):
    """The restart itself, with a stand-in library: libm, named as tcmalloc."""

    def run_script(self, **environment):
        directory = pathlib.Path(self.get_temp_dir()) / "restart"
        directory.mkdir(exist_ok=True)
        stand_in = directory / "libtcmalloc_minimal.so.4"
        if not stand_in.exists():
            stand_in.symlink_to(loaded_library("libm.so"))
        child_environment = {**os.environ, **environment}
        child_environment.pop("LD_PRELOAD", None)
        result = subprocess.run(
            [sys.executable, "-c", RESTARTING_SCRIPT, str(directory), "--flag=1"],
            capture_output=True,
            text=True,
            env=child_environment,
            timeout=120,
            check=True,
        )
        return stand_in, result.stdout.splitlines()

    def test_restarts_once_with_the_library_preloaded_and_the_same_arguments(self):
        stand_in, lines = self.run_script()
        arguments = f"['{stand_in.parent}', '--flag=1']"
        self.assertEqual(
            lines,
            [
                f"start {arguments} ",
                f"start {arguments} {stand_in}",
                "running False",
            ],
        )

    def test_system_does_not_restart(self):
        stand_in, lines = self.run_script(DREAMER_TF_ALLOCATOR="system")
        self.assertEqual(len(lines), 2)
        self.assertEqual(lines[1], "running False")

    def test_a_bad_choice_stops_before_any_work_in_one_line(self):
        directory = self.get_temp_dir()
        result = subprocess.run(
            [sys.executable, "-c", RESTARTING_SCRIPT, directory],
            capture_output=True,
            text=True,
            env={**os.environ, "DREAMER_TF_ALLOCATOR": "fast"},
            timeout=120,
            check=False,
        )
        self.assertEqual(result.returncode, 1)
        self.assertEqual(
            result.stderr.strip(),
            "error: DREAMER_TF_ALLOCATOR='fast' is not one of auto, tcmalloc, system.",
        )
        self.assertNotIn("running", result.stdout)


@pytest.mark.skipif(
    allocator.find_tcmalloc() is None, reason="tcmalloc is not installed here"
)
class InstalledTcmallocTest(tf.test.TestCase):
    def test_a_restarted_process_has_tcmalloc_mapped(self):
        result = subprocess.run(
            [sys.executable, "-c", RESTARTING_SCRIPT, ""],
            capture_output=True,
            text=True,
            env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"},
            timeout=120,
            check=True,
        )
        self.assertEqual(result.stdout.splitlines()[-1], "running True")
