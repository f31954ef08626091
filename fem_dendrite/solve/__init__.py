"""The solve path: the coupled problems of both formulations and everything that owns a SNES or a time step.

- ``formulations``: `build_problem` picks the problem of ``electrochemistry.formulation``;
- ``problem``: `CoupledProblem`, the gao2024 single-potential system (eta, c, phi), its Newton and bounds;
- ``faradaic_problem``: `FaradaicProblem`, the two-potential Faradaic system behind the same interface;
- ``coupling``: the mechanics (displacement, plasticity) staggered with or inside the electrochemistry;
- ``staggered``: the potential solved on its own from the last accepted state (time.potential_coupling);
- ``timestepping``: the adaptive stepper and the linearized time schemes;
- ``interleaved``: the node-interleaved Newton layout (solver.layout);
- ``presets``: PETSc options of the solver presets (LU, field split, AMG);
- ``curvature``, ``initial_field``: fields the problems start from or refresh each step.

The forms themselves live in `fem_dendrite.physics` (one function per equation); this package assembles and
solves them.
"""
