"""The course's classroom on JupyterHub: one instructor, a list of students, nbgrader's exchange.

``make hub`` (``dataethics hub up``) builds and starts it; ``grader/README.md``
("Classroom on JupyterHub") is the guide. One module per concern:

* :mod:`dataethics.hub.config` — the settings of one hub and what they turn into: JupyterHub's
  configuration and each role's Jupyter configuration (nbgrader, JupyterLab, server extensions);
* :mod:`dataethics.hub.accounts` — the Unix accounts, the shared exchange folder and the
  instructor's course folder (created, checked and removed);
* :mod:`dataethics.hub.exchange` — the students' submit step, which never leaves a half-written
  submission in the exchange and says plainly what went wrong;
* :mod:`dataethics.hub.launcher` — the proxy, the JupyterHub process and its REST API;
* :mod:`dataethics.hub.cli` — the ``dataethics hub`` command line;
* :mod:`dataethics.hub.bench` — a class of 30 under load: the test's driver and ``make bench-hub``.
"""
