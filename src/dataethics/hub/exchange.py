"""The students' submit step on the hub: whole submissions only, and plain messages.

nbgrader's default submit copies the assignment straight into its final folder in the
exchange's ``inbound``. If the copy stops half-way (the student's server is killed, the
disk is full) a half-written folder stays there under a valid name, and ``collect``, which
takes each student's newest folder, would pick it instead of the last complete submission.

:class:`SafeExchangeSubmit` (set as ``ExchangeFactory.submit`` in the students' nbgrader
configuration by :mod:`dataethics.hub.config`) copies into a hidden staging folder
(a name starting with ``.``, which ``collect`` never matches), writes the timestamp, and
only then renames it to its final name — a rename in one folder is atomic. A copy that
fails is removed, and the student reads what happened and that the work in their own
folder and their earlier submissions are untouched.

:func:`return_feedback` is the instructor's way back: nbgrader's ``generate_feedback`` and
``release_feedback`` (with the instructor's configuration, so the course's feedback
preprocessors), after putting each submission's ``timestamp.txt`` and ``submission_secret.txt`` where
``release_feedback`` looks for them — nbgrader's own autograde copies it into
``autograded/``, the course's autograder does not.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from stat import (
    S_IRGRP,
    S_IROTH,
    S_IRUSR,
    S_IRWXG,
    S_IRWXO,
    S_IRWXU,
    S_ISGID,
    S_IWUSR,
    S_IXGRP,
    S_IXOTH,
)

from nbgrader.exchange import ExchangeError
from nbgrader.exchange.default import ExchangeSubmit

_FILE_MODE = S_IRUSR | S_IWUSR | S_IRGRP | S_IROTH
_DIR_MODE = S_IRWXU | S_IRGRP | S_IXGRP | S_IROTH | S_IXOTH


def explain(exc: OSError, assignment: str) -> str:
    """A message a student understands for an error while writing to the exchange.

    >>> explain(OSError(28, "No space left on device"), "ps00").split(":")[0]
    'Your submission of ps00 did not reach the course'
    """
    code = exc.errno
    if code is None:  # shutil.Error gathers the copy's failures as text
        text = str(exc)
        code = next((c for c in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES)
                     if os.strerror(c) in text), None)
    reason = {errno.ENOSPC: "the course's exchange disk is full",
              errno.EDQUOT: "the course's exchange disk quota is used up",
              errno.EROFS: "the course's exchange is read-only at the moment",
              errno.EACCES: "you may not write to the course's exchange"}.get(
        code or 0, f"the course's exchange could not be written ({exc.strerror or exc})")
    return (f"Your submission of {assignment} did not reach the course: {reason}. Your notebooks are "
            "unchanged in your folder and earlier submissions are kept. Tell your instructor, "
            "then submit again.")


class SafeExchangeSubmit(ExchangeSubmit):
    """nbgrader's submit, made atomic: the exchange gets the whole submission or nothing.

    Where ``inbound`` is set-group-id (nbgrader's release makes it so), a submission takes the
    instructor's group and is readable by that group only; nbgrader's default leaves it
    world-readable, hidden only by its unguessable name.
    """

    def _instructor_group(self, folder: str) -> bool:
        inbound = os.stat(self.inbound_path)
        return bool(inbound.st_mode & S_ISGID) and os.stat(folder).st_gid not in (os.getgid(), 0)

    def copy_files(self) -> None:
        """Copy to a hidden staging folder, then rename it into place; clean up on failure."""
        self.init_release()
        assignment = self.coursedir.assignment_id
        secret = secrets.token_hex(64)
        dest = os.path.join(self.inbound_path, self.assignment_filename)
        staging = os.path.join(self.inbound_path, f".{self.assignment_filename}.partial")
        self.check_filename_diff()
        try:
            # the staging folder inherits inbound's group (set-group-id); nbgrader's copy would
            # copy the student's folder mode over it, so copy into a sub-folder and move up
            os.mkdir(staging)
            inner = os.path.join(staging, ".copy")
            self.do_copy(self.src_path, inner)
            for entry in os.listdir(inner):
                os.rename(os.path.join(inner, entry), os.path.join(staging, entry))
            os.rmdir(inner)
            for name, text in (("timestamp.txt", self.timestamp), ("submission_secret.txt", secret)):
                with open(os.path.join(staging, name), "w") as fh:
                    fh.write(text)
                    fh.flush()
                    os.fsync(fh.fileno())
            if self._instructor_group(staging):
                # only the instructor's group reads it, even someone who learns the folder's name
                self.set_perms(staging, fileperms=S_IRUSR | S_IWUSR | S_IRGRP,
                               dirperms=S_IRWXU | S_IRGRP | S_IXGRP)
                os.chmod(staging, S_IRWXU | S_IRWXG)
            else:
                self.set_perms(staging, fileperms=_FILE_MODE, dirperms=_DIR_MODE)
                # as nbgrader does: the top folder is 0777 so the instructor can delete it later
                os.chmod(staging, S_IRWXU | S_IRWXG | S_IRWXO)
            os.rename(staging, dest)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            self.log.error("submit of %s failed: %s", assignment, exc)
            raise ExchangeError(explain(exc, assignment)) from None

        # the student's own record of what was submitted (used to fetch feedback)
        cache = os.path.join(self.cache_path, self.assignment_filename.rsplit("+", 1)[0]
                             if self.add_random_string else self.assignment_filename)
        os.makedirs(self.cache_path, exist_ok=True)
        self.do_copy(self.src_path, cache)
        for name, text in (("timestamp.txt", self.timestamp), ("submission_secret.txt", secret)):
            with open(os.path.join(cache, name), "w") as fh:
                fh.write(text)
        self.log.info("Submitted as: %s %s %s", self.coursedir.course_id, assignment, self.timestamp)


# what nbgrader's release_feedback reads beside each feedback page (it names the page after them)
_SUBMISSION_RECORDS = ("timestamp.txt", "submission_secret.txt")


def return_feedback(assignment: str, course_root: Path | str) -> list[str]:
    """Generate and release feedback of ``assignment`` to the exchange; return the students served.

    Runs nbgrader's commands from this environment, so they read the caller's nbgrader
    configuration (on the hub: the instructor's). One-line error when a step fails.
    """
    from dataethics.errors import DataethicsError

    course = Path(course_root).expanduser()
    autograded = sorted(p for p in (course / "autograded").glob(f"*/{assignment}") if p.is_dir())
    if not autograded:
        raise DataethicsError(f"nothing autograded for {assignment} in {course}: autograde first")
    for folder in autograded:
        for name in _SUBMISSION_RECORDS:
            record = course / "submitted" / folder.parent.name / assignment / name
            if record.is_file() and not (folder / name).is_file():
                shutil.copy2(record, folder / name)
    nbgrader = str(Path(sys.executable).with_name("nbgrader"))
    for step in ("generate_feedback", "release_feedback"):
        out = subprocess.run([nbgrader, step, assignment, "--force"] if step == "generate_feedback"
                             else [nbgrader, step, assignment], capture_output=True, text=True,
                             cwd=course.parent)
        if out.returncode != 0:
            lines = (out.stderr or out.stdout).strip().splitlines()
            raise DataethicsError(f"nbgrader {step} failed: {lines[-1] if lines else out.returncode}")
    return [folder.parent.name for folder in autograded]
