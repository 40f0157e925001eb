"""What the learning-management systems write and read, one module per LMS.

* ``common`` — what both share: the id mapping file (LMS id → course student id,
  with the optional name, section, e-mail and group columns), the collect
  report (one line per problem: file, what was done, why), Canvas-style
  resubmission suffixes and nbgrader's ``timestamp.txt``;
* ``moodle`` — Moodle's assignment download ("Download all submissions", in
  folders or flat, with "Participant N" anonymity and group submissions) and
  the offline grading worksheet (its columns, dates and identifiers);
* ``canvas`` — Canvas's "Download Submissions" file names (``LATE``,
  ``anon_…``, attachment ids, ``-N`` copies) and its gradebook CSV (the header
  and the ``Points Possible`` row its importer expects).

These modules only know the formats. ``collect`` puts the files in place and
``exports`` writes the grades; neither format module imports them.
"""
