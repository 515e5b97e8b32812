"""The examples ``bench --help`` and ``bench run --help`` print."""

EXAMPLES = """examples:
  bench run capacity_check                      run a shipped protocol on the built-in simulated bench
  bench run my_test.yaml --bench lab.toml       run on real instruments
  bench run cold_capacity --set rate=C/3 --out runs/cold.h5
  bench run capacity_check --fault internal_short@2h,resistance_ohm=0.05
  bench validate my_test.yaml                   check a protocol, print its steps
  bench report runs/RUN.h5 --json               verdict, conditions, metrics, safety events
  bench run capacity_check --speed 600 --live   watch it live (plot window in its own process)
  bench plot runs/RUN.h5 --png run.png          V, I, temperatures, capacity per cycle, Nyquist to a PNG
  bench export runs/RUN.h5 --format bdf-csv     Battery Data Format files (also bdf-parquet)
  bench repair runs/RUN.h5                      closed copy of a crashed run for non-SWMR readers
  bench resume runs/RUN.h5                      continue an interrupted run (kill -9) into the same file
  kill -USR1 PID                                pause / resume a running bench (output off, chamber held)
  bench drivers                                 list the instrument drivers
  bench check --bench lab.toml                  ask every instrument who it is
"""
