"""Real engine measurements that rigfit's estimates are checked against.

:mod:`rigfit.validation.measurements` holds the strict row models and the loader of the
bundled measurement set (``validation/data/*.jsonl``).
"""
