"""Judging results: reference methods from the literature that the spotter is compared with on identical input, and
the paired bootstrap that says whether two LOSO runs differ by more than the choice of test subjects."""
