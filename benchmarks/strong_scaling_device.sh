#!/bin/bash
# strong scaling on the lent 16-core machine: unpack the carried wheels' install, then the two sweeps
# How the carried files were made here (the machine there has Python 3.12, numpy and scipy, and no network):
#   pip install --no-index --no-deps --target /tmp/site <the dolfinx-solver-real, basix, ffcx, ufl, mpi4py, mpich,
#       meshio, cffi, pycparser wheels>; tar cJf .devsite/site.tar.xz -C /tmp --exclude=slepc4py site
#   (pip --target drops the mpich wheel's lib/: it travels as .devsite/mpilib.tar.xz, its data/lib renamed site_lib)
#   XDG_CACHE_HOME=.devcache python benchmarks/strong_scaling.py ... (tiny --cells, 1 rank) fills the JIT cache
# Run there from the repository root, carrying .devsite and .devcache: bash benchmarks/strong_scaling_device.sh
R=$PWD
python3 -c "import tarfile; [tarfile.open(f).extractall('/tmp') for f in ('.devsite/site.tar.xz', '.devsite/mpilib.tar.xz')]" && mv /tmp/site_lib /tmp/site/lib || exit 3
cd $R
export PATH=/tmp/site/bin:$PATH LD_LIBRARY_PATH=/tmp/site/lib PYTHONPATH=/tmp/site:$R XDG_CACHE_HOME=$R/.devcache \
       OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
{ lscpu; free -g; python3 --version; } > $OUT/machine.txt 2>&1
M="--mpiexec /tmp/site/bin/mpiexec"
timeout 280 python3 benchmarks/strong_scaling.py --cells 90 45 45 --ranks 1 2 4 8 16 --steps 2 --preset fieldsplit \
  --set mechanics.enabled=false $M --json $OUT/fieldsplit_3d.json 2>&1 | tee $OUT/fieldsplit_3d.log
timeout 270 python3 benchmarks/strong_scaling.py --cells 400 200 --ranks 1 2 4 8 16 --steps 2 --preset fieldsplit \
  $M --json $OUT/fieldsplit_2d.json 2>&1 | tee $OUT/fieldsplit_2d.log
