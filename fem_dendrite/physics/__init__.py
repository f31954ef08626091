"""Physics terms: one function per equation, each returning its UFL residual (or a term of it).

The coupled problem (fem_dendrite.solve.problem) sums them into one monolithic blocked system.
"""
