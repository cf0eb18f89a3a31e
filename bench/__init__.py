"""Benchmarks for Repertory, each figure printed beside a baseline measured in the same run.

Run them with ``make bench`` (``python -m bench``); ``--quick`` makes a smoke run with
small counts and ``--only NAME`` runs one module. Results go to ``bench/results/``.
"""
