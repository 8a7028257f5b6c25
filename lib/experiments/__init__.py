"""The experiments of each chapter as pure functions ``config -> result`` (cacheable with
:class:`lib.cache.ResultsCache`) plus each chapter's size table per profile.

* :mod:`lib.experiments.kernel_regime` — Chapter 1, the kernel regime primer.
"""
