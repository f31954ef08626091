"""Connections to the lab: statistics of measured (or simulated) critical current densities (``weibull``) and the
homogenised conductivity / impedance of the polycrystal (``conductivity``)."""
