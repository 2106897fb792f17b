"""Few-shot transfer across elements: a prior over SNAP coefficients learned on other metals makes a new one cheap.

A task is an element. Each element's structures are mapped onto one reduced crystal (lengths in units of its
nearest-neighbour distance, energies in units of B * Omega, its bulk modulus times its atomic volume, both from its
own equation of state), where one set of SNAP coefficients can describe several metals. The coefficients fitted on
the source elements give a hierarchical (empirical-Bayes) Gaussian prior for the target element; the learning curve
(test force RMSE vs DFT calls) with that prior is measured against the default prior, with the same selection rule
on the same candidate pool (:mod:`multiscale.transfer.curve`). The pools are labelled through the DFT cache
(:mod:`multiscale.transfer.pool`).
"""
