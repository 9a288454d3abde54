"""Publishing report runs safely: the scenario lock, build folders, ``latest`` and retention.

A scheduler runs ``clvkit report`` every night into ``<out>/<scenario>/``; this module is what
makes that safe when runs fail, overlap, are killed, or meet a hostile or careless file system:

* **One run at a time.** :func:`scenario_lock` takes ``.lock`` with ``fcntl.flock``. The file is
  opened with ``O_NOFOLLOW`` and must be a regular file with one link, so a symlink or hard link
  planted at ``.lock`` can never make a run truncate another file. The kernel releases a flock
  when its process dies, so a lock left by a killed run is never a stale lock that blocks the
  next night: the next run takes it, says so (the pid and start time written in the file), and
  cleans up what the killed run left.
* **Leftovers are removed.** Build folders (``.build-*``), half-replaced runs (``.old-*``, put
  back when the run they replaced is missing), temporary links and files, and the kernel socket
  folders of dead processes (``clvkit-kernel-<pid>-*`` in the temp folder).
* **Atomic publishing.** A run is built in a hidden folder beside its destination and moved in by
  renames (:func:`replace_dir`); a failed or killed run never touches the previous one.
* **``latest`` only for complete runs.** :func:`point_latest` points ``latest`` (a relative
  symlink) and ``latest.html`` at the newest run whose ``run.json`` says it is complete (a run of
  ``--only`` some notebooks is not); a real folder or file called ``latest`` is refused before
  the run starts (:func:`check_scenario_dir`) rather than failing after publishing.
* **Retention.** :func:`prune` keeps the newest ``report.keep_runs`` runs (and failed runs),
  never the run ``latest`` points at.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import glob
import html
import json
import logging
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path

from clvkit.errors import ClvkitError, ConfigError

logger = logging.getLogger(__name__)

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
KERNEL_PREFIX = "clvkit-kernel-"
_TEMP = re.compile(r"^\.(build-|old-|latest-|.+-\d+$|.+\.tmp$)")


class ReportError(ClvkitError):
    """A report run failed; the message names the notebook and the cell, or the lock holder."""


# ------------------------------------------------------------------------------- checks
def check_out_dir(out: Path) -> Path:
    """The reports root, made if missing; a file or an unwritable folder is a ConfigError."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder", key="out",
                          fix="name a folder for the reports")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".clvkit-write-test-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ConfigError(f"--out {out} is not writable ({e.strerror or e})", key="out",
                          fix="choose a folder you can write to") from None
    return out


def check_scenario_dir(scenario_dir: Path) -> None:
    """Refuse, before any work, a ``latest`` that clvkit could not replace (a real folder or
    file: the run would publish and then fail on every later night)."""
    link = scenario_dir / "latest"
    if link.is_symlink() or not link.exists():
        return
    kind = "folder" if link.is_dir() else "file"
    raise ReportError(f"{link} is a real {kind}, not the link clvkit keeps to the newest "
                      "complete run; move it away (e.g. rename it), then run again")


# --------------------------------------------------------------------------------- lock
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _open_lock(path: Path) -> int:
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as e:
        if path.is_symlink():
            raise ReportError(f"lock {path} is a symlink, which clvkit never follows; remove "
                              "it (it was not made by clvkit)") from None
        raise ReportError(f"cannot open lock {path} ({e.strerror or e})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        raise ReportError(f"lock {path} is not a plain file of its own (a hard link or a "
                          "device); remove it (it was not made by clvkit)")
    return fd


@contextlib.contextmanager
def scenario_lock(scenario_dir: Path):
    """Hold ``<scenario_dir>/.lock`` while a run is in progress; yield its path.

    Raises ReportError when another live run holds it, or when ``.lock`` is a symlink, a hard
    link or not a regular file. A lock file left by a killed run is taken over with a warning,
    and the killed run's leftovers are removed (:func:`cleanup`).
    """
    scenario_dir.mkdir(parents=True, exist_ok=True)
    path = scenario_dir / ".lock"
    fd = _open_lock(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
            raise ReportError(
                f"another report run of scenario '{scenario_dir.name}' is in progress (lock "
                f"{path}: {holder or 'held'}); wait for it to finish: runs of one scenario never "
                "interleave") from None
        previous = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
        if previous:
            logger.warning("took over the lock of a run that ended without releasing it "
                           "(%s, process gone); removing what it left", previous)
        cleanup(scenario_dir)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since "
                      f"{_dt.datetime.now().isoformat(timespec='seconds')}\n".encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)  # empty = released cleanly
    finally:
        os.close(fd)  # releases the flock


def cleanup(scenario_dir: Path) -> list[str]:
    """Remove what killed runs left in ``scenario_dir`` (call with the lock held) and the kernel
    socket folders of dead processes; put back a run that was half-replaced. Returns the names
    removed or restored."""
    done = []
    folders = [scenario_dir] + [scenario_dir / "failed"] * (scenario_dir / "failed").is_dir()
    for entry in sorted(e for folder in folders for e in folder.iterdir()):
        name = entry.name
        if name == ".lock" or not _TEMP.match(name):
            continue
        old = re.match(r"^\.old-(.+)-\d+$", name)
        if old and not (entry.parent / old.group(1)).exists() and entry.is_dir():
            os.rename(entry, entry.parent / old.group(1))  # the replacement never arrived
            done.append(f"restored {old.group(1)}")
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        done.append(name)
    for folder in glob.glob(os.path.join(tempfile.gettempdir(), f"{KERNEL_PREFIX}*")):
        m = re.match(rf"{KERNEL_PREFIX}(\d+)-", os.path.basename(folder))
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            shutil.rmtree(folder, ignore_errors=True)
            done.append(os.path.basename(folder))
    if done:
        logger.warning("removed leftovers of killed runs: %s", ", ".join(done))
    return done


# ------------------------------------------------------------------------ build, replace
def build_dir(scenario_dir: Path, date: str, copy_from: Path | None = None) -> Path:
    """A fresh hidden build folder for a run of ``date`` (a copy of ``copy_from`` if given)."""
    build = scenario_dir / f".build-{date}-{os.getpid()}"
    if build.exists():
        shutil.rmtree(build)
    if copy_from is not None and copy_from.is_dir():
        shutil.copytree(copy_from, build, symlinks=True)
    else:
        build.mkdir()
    return build


def replace_dir(src: Path, dest: Path) -> None:
    """Move ``src`` to ``dest`` by renames; an existing ``dest`` is removed only once replaced."""
    old = dest.with_name(f".old-{dest.name}-{os.getpid()}")
    if dest.exists():
        os.rename(dest, old)
    try:
        os.rename(src, dest)
    except BaseException:
        if old.exists():
            os.rename(old, dest)
        raise
    if old.exists():
        shutil.rmtree(old)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def is_complete(run: Path) -> bool:
    """Whether ``run`` is a complete run: it has an index and its ``run.json`` does not say
    ``"complete": false`` (runs from before this flag existed were always complete)."""
    if not (run / "index.html").exists():
        return False
    try:
        meta = json.loads((run / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True
    return meta.get("complete", True) is not False


def runs(scenario_dir: Path) -> list[str]:
    """Names of the dated run folders, oldest first."""
    return sorted(p.name for p in scenario_dir.iterdir()
                  if DATE.match(p.name) and p.is_dir() and not p.is_symlink())


def point_latest(scenario_dir: Path) -> str | None:
    """Point ``latest`` (symlink) and ``latest.html`` (redirect page) at the newest complete
    run; return its name (None when there is no complete run, and nothing is changed)."""
    complete = [r for r in runs(scenario_dir) if is_complete(scenario_dir / r)]
    if not complete:
        return None
    newest = complete[-1]
    link = scenario_dir / "latest"
    tmp = scenario_dir / f".latest-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(newest, tmp)
    os.replace(tmp, link)
    target = f"{newest}/index.html"
    name = html.escape(scenario_dir.name)
    write_atomic(scenario_dir / "latest.html", (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="0; url={html.escape(target)}">'
        f"<title>{name}: latest report</title></head>\n"
        f'<body><p>Latest report of {name}: '
        f'<a href="{html.escape(target)}">{html.escape(newest)}</a></p></body></html>\n'))
    return newest


def prune(scenario_dir: Path, keep_runs: int | None) -> list[str]:
    """Delete all but the newest ``keep_runs`` dated runs (and failed runs); never the run
    ``latest`` points at. None keeps everything. Returns the runs deleted."""
    if keep_runs is None:
        return []
    link = scenario_dir / "latest"
    pinned = os.readlink(link) if link.is_symlink() else None
    deleted = []
    for folder in (scenario_dir, scenario_dir / "failed"):
        if not folder.is_dir():
            continue
        names = runs(folder)
        for name in names[:max(len(names) - keep_runs, 0)]:
            if folder == scenario_dir and name == pinned:
                continue
            shutil.rmtree(folder / name)
            deleted.append(str((folder / name).relative_to(scenario_dir)))
    if deleted:
        logger.info("retention (report.keep_runs = %d) removed %s", keep_runs, ", ".join(deleted))
    return deleted
