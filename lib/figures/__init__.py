"""Each chapter's figures, made by functions in the house style of :mod:`lib.plotting` (one module per chapter).

* :mod:`lib.figures.scaling_laws` — Chapter 5.
"""
