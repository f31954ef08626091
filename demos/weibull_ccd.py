# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Weibull statistics of critical current densities
#
# Lowack 2025 ramped 30 Na|NaSmSiO|Na cells at 1 mA cm^-2 h^-1 until short circuit and fitted the critical current
# densities with a shifted Weibull distribution (threshold j_u = 0.47, scale j_0 = 0.51 mA/cm^2, shape m = 1.10;
# Kolmogorov-Smirnov p = 0.39). Their 30 values are in their supporting information, not in our seeds; here we draw
# 30 values from their fit and analyse them as `fem-dendrite weibull FILE --out DIR` does: maximum likelihood
# (profile over the threshold), parametric-bootstrap confidence intervals and a KS p-value that accounts for the
# fitted parameters. The same analysis applies to the j_c of a simulated CCD ensemble.
#
# Run with `python weibull_ccd.py` (or under `mpiexec`: every rank computes, rank 0 prints).

# %%
# %matplotlib inline
from mpi4py import MPI
from scipy import stats

from fem_dendrite.lab import weibull

comm = MPI.COMM_WORLD
values = stats.weibull_min(1.10, loc=0.47, scale=0.51).rvs(30, random_state=2025)   # mA/cm^2
result = weibull.analyse(values, "mA/cm^2", bootstrap=299, seed=0)
if comm.rank == 0:
    s = result.summary()
    for key in ("threshold", "scale", "shape", "mean"):
        low, high = result.intervals[key]
        print(f"{key:9s} = {s[key]:.3f}  95 % CI [{low:.3f}, {high:.3f}]")
    print(f"KS D = {s['ks_statistic']:.3f}, p = {s['ks_pvalue']:.2f} (parametric bootstrap; the table value "
          f"{s['ks_pvalue_table']:.2f} ignores the fitting); estimator: {s['estimator']}")

# %%
weibull.plot(values, result)
