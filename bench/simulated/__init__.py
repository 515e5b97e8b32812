"""The simulated benches: the built-in bench (in process, virtual clock), ``bench sim serve``
(loopback TCP) and N-cell multi-channel benches. The only package of ``bench`` that imports
``sim_instruments``."""
