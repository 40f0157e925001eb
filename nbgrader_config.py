"""nbgrader configuration of the course (read when nbgrader or JupyterLab starts here)."""

import os

c = get_config()  # noqa: F821 - provided by nbgrader's config loader

_here = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.root = os.path.join(_here, "assignments")
c.CourseDirectory.course_id = "dataethics"
# Students' stubs: a clear marker and an error until they write their code.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
# Each cell may run at most this long when validating or autograding.
c.ExecutePreprocessor.timeout = 60
c.ExecutePreprocessor.interrupt_on_timeout = True
# Feedback never shows hidden tests (nbgrader shows them by default): hidden-test code is
# removed from the cells and from their outputs (tracebacks quote the failing line).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "dataethics.grading.feedback.ScrubHiddenTestOutputs",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
# Student data files travel with each released assignment.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]
# Late work: nbgrader's late-submission plugin, which `dataethics grade autograde` applies to the
# score. "none" only flags late work (the default); "zero" gives late work no points.
c.LateSubmissionPlugin.penalty_method = "none"
