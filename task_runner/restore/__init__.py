"""Getting files back, and checking that they could be: the restorer (a
snapshot's files written under a target without following links), the
work of its workers (work), the ``--to`` folder opened once (target), and
verify (a snapshot compared with its source, or with itself). What the
restore verbs print is in ``commands/``.
"""
