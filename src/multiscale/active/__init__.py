"""Active learning: the specimen asks, DFT answers, the potential learns.

One iteration: explore (candidate configurations small enough for DFT, each graded by the current potential),
select (uncertainty with diversity, downstream/QoI-driven, or random, with the same budget), label (GPAW through
the shared content cache), extend the dataset, refit. The workflow runs the iterations as an iteration wildcard
(``results/<study>/al/iter<k>/``); the downstream stages use the last potential.
"""
