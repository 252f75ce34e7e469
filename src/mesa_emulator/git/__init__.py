"""The emulator's git engine: plain git operations on bare repositories, with pygit2.

It knows nothing about HTTP or metadata storage; it returns frozen dataclasses and raises
:mod:`~mesa_emulator.git.errors` for expected failures.  One module per concept:

* :mod:`~mesa_emulator.git.repository`: :class:`GitRepository`, the facade the operations
  call (one short-lived libgit2 handle per call, the repository's lock around writes), and
  ``init_repository``;
* :mod:`~mesa_emulator.git.errors`: the ``GitOpsError`` family;
* :mod:`~mesa_emulator.git.branch_names` and :mod:`~mesa_emulator.git.paths`: the one rule
  for branch names and the one for paths (git's own), which the API checks apply too;
* :mod:`~mesa_emulator.git.objects`: signatures, commits as values, lookups by sha;
* :mod:`~mesa_emulator.git.refs`: compare-and-swap ref moves, journalled multi-ref moves,
  repository locks, resolving names, stale lock files;
* :mod:`~mesa_emulator.git.trees`: the in-memory tree editor;
* :mod:`~mesa_emulator.git.committing`, :mod:`~mesa_emulator.git.merging`: the two writes
  that make commits;
* :mod:`~mesa_emulator.git.reading`, :mod:`~mesa_emulator.git.diffs`: history, content,
  listings, last-change times, diffs;
* :mod:`~mesa_emulator.git.agent_blame`, :mod:`~mesa_emulator.git.analytics`: which lines AI
  agents wrote (Agent Blame's notes), and who wrote the history.
"""
