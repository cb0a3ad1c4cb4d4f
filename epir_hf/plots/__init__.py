"""Figures for people: what a LOSO run predicted (confusion matrices), how several models compare per corpus, how
far the optimistic oracle-epoch choice lifts a run above its honest last epoch, and which facial regions drove one
prediction (DTSM's kept tokens).

Every number drawn is computed by the package itself: a run's scores by `compute_results` from its fold files (what
wrote its results.json), so a figure shows the committed numbers and never a re-implementation of them. Images are
deterministic (fixed size and resolution, no time or version in the PNG), so regenerating them from the same results
gives the same files. `epir-hf plot` is the command line.
"""
