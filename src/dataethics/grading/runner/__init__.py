"""Running one submission: from the submitted file to the verdict of each test cell.

One module, one job (the class-level work — tasks, workers, gradebook — is in
:mod:`dataethics.grading.autograde`):

* ``limits`` — :class:`~.limits.Limits` (time, memory, output) and :class:`~.limits.Outcome`
  (what happened to one notebook);
* ``notebook`` — reading a submission, matching submitted notebooks to the assignment's by file
  name, rebuilding the notebook to run from the instructor's source;
* ``integrity`` — the tamper report (submission against release), the static scan of answers
  and the in-kernel integrity check;
* ``sandbox`` — bubblewrap and the kernelspec that applies the limits;
* ``kernel`` — the kernel launcher (``python -m dataethics.grading.runner.kernel``) and its
  output caps;
* ``execute`` — running one submission and deciding each test cell's verdict.

The package imports no other part of ``dataethics.grading``, so the kernel launcher stays light.
"""
