"""Kill a forked child just before its i-th file operation, for every i until the work completes.

Imported by the scripts that tests/reliability runs in a fresh interpreter (conftest's save
killer, test_rel_generator's export killer): the folder is put on sys.path by the script.
"""

import os
import shutil
import sys
from pathlib import Path

WRITES = {"os.rename", "os.replace", "os.remove", "os.rmdir", "shutil.rmtree", "os.mkdir",
          "os.truncate", "os.link", "os.symlink", "os.chmod"}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def is_write(event: str, args: tuple) -> bool:
    """Whether an audit event changes the file system."""
    if event == "open":
        _, mode, flags = args
        return any(c in mode for c in "wax+") if isinstance(mode, str) else bool((flags or 0) & WRITE_FLAGS)
    return event in WRITES


def kill_each_write(pristine: Path, base: Path, work, limit: int) -> list[int]:
    """For i = 0, 1, ...: copy `pristine` to base/kill<i>, fork, and run `work(copy)` in the child,
    killed (exit 9) just before its i-th file operation; stop at the first try that is not killed.
    Returns the exit code of each try (9 = killed, 0 = completed, 3 = raised)."""
    codes = []
    for i in range(limit):
        run = base / f"kill{i:03d}"
        shutil.copytree(pristine, run)
        pid = os.fork()
        if pid == 0:
            seen = [0]

            def hook(event, args):
                if is_write(event, args):
                    if seen[0] == i:
                        os._exit(9)
                    seen[0] += 1
            sys.addaudithook(hook)
            try:
                work(run)
            except BaseException:
                os._exit(3)
            os._exit(0)
        codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        if codes[-1] != 9:
            break
    return codes
