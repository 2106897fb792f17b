# GPAW build configuration (read by GPAW's setup through GPAW_CONFIG; see envs/setup.sh).
# Link GPAW against the OpenBLAS that dolfinx-solver-real bundles, so that GPAW, PETSc/dolfinx and LAMMPS
# share ONE BLAS in a process. Linking Debian's libblas.so.3 instead breaks whichever is loaded second
# (measured: "undefined symbol: sgemv_thread_n" or "undefined symbol: dgemmt_").
import os

blas_dir = os.environ["MULTISCALE_BLAS_DIR"]  # set by envs/setup.sh
libraries = [lib for lib in libraries if lib not in ("blas", "lapack", "openblas")]  # noqa: F821
extra_link_args += ["-Wl,--no-as-needed", os.path.join(blas_dir, "libopenblas.so.0"), "-Wl,--as-needed",
                    f"-Wl,-rpath,{blas_dir}"]  # noqa: F821
scalapack = False
