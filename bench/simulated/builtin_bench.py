"""The built-in simulated bench: the one place production code imports ``sim_instruments``.

One world (virtual clock, chamber air, cell), three simulated instruments speaking their real
wire protocols, reached by the production drivers through pyvisa (an in-process VISA library)
and pyserial (a ``cellsim://`` URL): a Keithley 2460 cycler, an Espec P-300 chamber and a
Keysight DAQ970A thermocouple meter, plus a Hioki BT4560 impedance meter (serial URL) whose
spectra come from the same cell state.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

import pyvisa

from bench.fault_specs import FaultSpec
from bench.instruments import Bench
from cells import shipped_datasheet
from drivers.catalog import open_channel, open_instrument
from drivers.cycler_system import SystemPool
from sim_instruments.cell import get_preset
from sim_instruments.cell.presets import PRESETS
from sim_instruments.chambers.espec_p300 import EspecChamberSim
from sim_instruments.chambers.memmert_oven import MemmertOvenSim
from sim_instruments.cyclers.ea_psb import EaPsbSim
from sim_instruments.cyclers.keithley2460 import Keithley2460Sim
from sim_instruments.cyclers.maccor_macnet import HIGH_CURRENT_CHANNEL
from sim_instruments.cyclers.systems import cycler_system_stream, make_cycler_system
from sim_instruments.impedance.hioki_bt4560 import HiokiBT4560Sim
from sim_instruments.meters.keysight_daq970a import KeysightDaq970aSim
from sim_instruments.wire.endpoint import CommsFault, LineEndpoint
from sim_instruments.wire.http_server import LocalRest
from sim_instruments.wire.serial_url import registry
from sim_instruments.wire.visa_library import SimVisaLibrary
from sim_instruments.world.chamber_air import oven_model
from sim_instruments.world.clock import ScaledClock, VirtualClock
from sim_instruments.world.sim_world import SimWorld

logger = logging.getLogger(__name__)

CYCLER_RESOURCE = "USB0::0x05E6::0x2460::04412345::INSTR"
#: Cyclers ``build_sim_bench(cycler=NAME)`` can simulate: driver name -> (simulator, VISA resource).
SIM_CYCLERS: dict[str, tuple[Any, str]] = {
    "keithley2460": (Keithley2460Sim, CYCLER_RESOURCE),
    "ea_psb10000": (EaPsbSim, "TCPIP::192.168.0.10::5025::SOCKET"),
}
#: Commercial cycler channels ``build_sim_bench(cycler=NAME)`` can simulate (channel 1 of a system,
#: reached by the production channel driver over an in-process stream): driver name -> resource.
SYSTEM_SIM_CYCLERS: dict[str, str] = {
    "maccor_macnet": "TCPIP::192.0.2.40::57570::SOCKET",
}
THERMOMETER_RESOURCE = "USB0::0x2A8D::0x5001::MY58001234::INSTR"
#: Largest current magnitude the simulated Keithley 2460 forces, A (above it: the EA PSB).
KEITHLEY2460_MAX_A = 7.35
#: Chambers ``build_sim_bench(chamber=NAME)`` can simulate.
SIM_CHAMBERS = ("espec_p300", "memmert_oven")
#: Resource of the simulated Memmert oven (an address a lab would give it; reached in process).
OVEN_RESOURCE = "http://192.168.100.100"


#: The simulated cycler for protocols above the Keithley's 7.35 A: a Maccor test channel (5 V /
#: 60 A, 16-bit readback: 76 µV voltage steps) rather than the EA PSB 10060-60, whose 10 mV readback
#: the plating detector (bench.analysis.plating) cannot read a relaxation from (issue 30 item 4).
HIGH_CURRENT_CYCLER = "maccor_macnet"


def choose_sim_cycler(protocol: Any) -> str:
    """The simulated cycler a protocol needs: the Keithley 2460 unless a step forces more than
    7.35 A (a Hold counts with its current limit, the cell's ``current_max_a``) *and* the
    simulated cell's datasheet allows that current, then :data:`HIGH_CURRENT_CYCLER` (a Maccor
    channel, ±60 A). A Python protocol (steps known only when it runs) is judged by its
    ``limits.current_max_a``.

    The simulated cell is the preset's, whatever the protocol's cell block claims: a 50 A step
    on a 7.28 A cell keeps the Keithley, so ``bench run`` refuses it exactly as ``bench validate``
    does (the cycler-range check), instead of driving the cell at 50 A."""
    currents = [0.0]
    if getattr(protocol, "generator", None) is not None:
        currents.append(float(protocol.limits.current_max_a))
    for node, _depth in protocol.walk_nodes():
        if getattr(node, "kind", "") == "cv":
            currents.append(float(protocol.cell.current_max_a))
        for value in (getattr(node, "current_a", None), getattr(getattr(node, "pulse", None), "current_a", None)):
            if value is not None:
                currents.append(abs(float(value)))
    needed = max(currents)
    if needed <= KEITHLEY2460_MAX_A + 1e-9:
        return "keithley2460"
    try:
        datasheet = get_preset(protocol.cell.preset)
    except (KeyError, ValueError):
        return HIGH_CURRENT_CYCLER
    cell_max_a = max(datasheet.current_max_discharge_a, datasheet.current_max_charge_a)
    return HIGH_CURRENT_CYCLER if cell_max_a > KEITHLEY2460_MAX_A else "keithley2460"


def choose_sim_chamber(protocol: Any) -> str:
    """The simulated chamber a protocol needs: the Espec P-300 (-45..100 °C) unless a soak goes
    above its range, then the Memmert oven (20..300 °C, heats only). A protocol mixing soaks below
    20 °C and above 100 °C keeps the Espec, so ``bench validate`` / ``bench run`` refuse it by the
    chamber-range check instead of running half of it."""
    from drivers.espec import EspecP300
    from drivers.memmert_atmoweb import MemmertAtmoWeb

    temps = [float(node.temperature_c) for node, _depth in protocol.walk_nodes()
             if getattr(node, "kind", "") == "soak" and getattr(node, "temperature_c", None) is not None]
    espec_low, espec_high = EspecP300.setpoint_range_c
    oven_low, oven_high = MemmertAtmoWeb.setpoint_range_c
    if temps and max(temps) > espec_high and min(temps) >= oven_low:
        return "memmert_oven"
    return "espec_p300"


def preset_datasheets() -> dict[str, str]:
    """Simulator preset -> the name of the datasheet it models (``cells/datasheets``)."""
    return {name: preset.datasheet for name, preset in PRESETS.items()}


def cell_datasheet(preset: str) -> Mapping[str, Any]:
    """The datasheet a simulator preset models, in the protocol's ``cell:`` keys (the older
    ``cell_defaults`` interface of the protocol loader; ``bench run`` names cells through
    :mod:`bench.cell_source`). KeyError naming the presets for an unknown preset."""
    return {key: value for key, (value, _source) in shipped_datasheet(get_preset(preset).datasheet).cell_values().items()}


@dataclasses.dataclass
class SimulatedBench:
    """The world behind a simulated bench and its instruments' endpoints (for fault injection)."""

    world: SimWorld
    endpoints: dict[str, LineEndpoint]
    #: Faults scheduled by :func:`inject_faults`, with the test time each started (None: not yet).
    faults: list[tuple[FaultSpec, float | None]] = dataclasses.field(default_factory=list)
    #: Called as ``on_fault_applied(spec, test_time_s)`` when a physical fault starts (the runner
    #: records it as an event).
    on_fault_applied: Any = None
    #: The world's clock when the faults were scheduled (their test time zero), s.
    fault_t0_s: float = 0.0

    #: Each scheduled fault with its handle: the mutable ``[world start time]`` of a physical
    #: fault's hook, or the link's :class:`CommsFault` (shifted together by :meth:`rebase`).
    schedule: list[tuple[FaultSpec, Any]] = dataclasses.field(default_factory=list)

    def long_physics_steps(self, longest_s: float) -> None:
        """Let the world integrate quiet stretches in steps of up to ``longest_s`` s (the
        controller samples them in long strides: bench/engine/adaptive.py)."""
        self.world.use_long_steps(longest_s)

    def fault_started(self, spec: FaultSpec, now_s: float) -> None:
        """A fault took effect at world time ``now_s``: note it and tell the listener."""
        time_s = now_s - self.fault_t0_s
        self.faults = [(f, time_s if f is spec and t is None else t) for f, t in self.faults]
        if self.on_fault_applied is not None:
            self.on_fault_applied(spec, time_s)

    def rebase(self, t0_s: float) -> None:
        """Make the faults' times relative to world time ``t0_s`` (the run's test time zero, taken
        when the engine starts: identifying the instruments and opening the file take world time
        too, 40 s of it at ``--speed 500``), so a fault ``@3600s`` starts at test time 3600 s."""
        delta = t0_s - self.fault_t0_s
        for _, handle in self.schedule:
            if isinstance(handle, CommsFault):
                handle.start_s += delta
            else:
                handle[0] += delta
        self.fault_t0_s = t0_s

    def fault_report(self) -> list[tuple[FaultSpec, float | None]]:
        """Every scheduled fault with the test time it started, or None if it never did; a link
        fault starts when it first meets a message (a link nobody spoke over had no fault)."""
        links = {id(spec): handle for spec, handle in self.schedule if isinstance(handle, CommsFault)}
        out = []
        for spec, started in self.faults:
            link = links.get(id(spec))
            if started is None and link is not None and link.first_hit_s is not None:
                started = link.first_hit_s - self.fault_t0_s
            out.append((spec, started))
        return out


#: Simulated cell backends: ``bench run --cell-backend NAME``.
CELL_BACKENDS = ("ecm", "pybamm")


def cell_factory(backend: str) -> Any:
    """The cell class of a backend; ValueError naming the fix when unknown or PyBaMM is missing."""
    if backend == "ecm":
        return None
    if backend != "pybamm":
        raise ValueError(f"no cell backend {backend!r}; choose one of {', '.join(CELL_BACKENDS)}")
    try:
        import pybamm  # noqa: F401
    except ImportError:
        raise ValueError("PyBaMM is not installed: pip install cellbench[pybamm]") from None
    from sim_instruments.cell.pybamm_cell import PybammCellModel

    return PybammCellModel


def build_sim_bench(
    preset: str = "nmc_21700",
    *,
    soc: float = 0.5,
    temperature_c: float = 25.0,
    seed: int | None = 0,
    clock: Any = None,
    speed: float | None = None,
    cycler: str = "keithley2460",
    cell_backend: str = "ecm",
    chamber: str = "espec_p300",
) -> Bench:
    """A simulated bench with one ``preset`` cell at ``soc`` (0..1) in a chamber at ``temperature_c``.

    ``cell_backend``: ``"ecm"`` (the equivalent-circuit cell) or ``"pybamm"`` (a PyBaMM SPMe
    ``ORegan2022`` cell behind the same instruments; needs ``pip install cellbench[pybamm]``).

    ``cycler``: a key of :data:`SIM_CYCLERS` or :data:`SYSTEM_SIM_CYCLERS`, e.g. ``"ea_psb10000"`` (±60 A) or
    ``"maccor_macnet"`` (±60 A, a Maccor channel through its MacNet driver) instead of the
    Keithley 2460 (±7.35 A).

    ``chamber``: ``"espec_p300"`` (-45..100 °C) or ``"memmert_oven"`` (a Memmert UF plus oven,
    20..300 °C, heater only, AtmoWEB REST reached in process: no socket).

    ``speed``: None runs in virtual time (as fast as the CPU allows); N paces the world at N times
    the wall clock (so a run can be watched or interrupted).
    """
    if clock is None:
        clock = VirtualClock() if speed is None else ScaledClock(speed)
    world = SimWorld.single_cell(clock, preset=preset, soc=soc, temperature_c=temperature_c, seed=seed,
                                 cell_factory=cell_factory(cell_backend))
    now = clock.now_s
    if chamber not in SIM_CHAMBERS:
        raise ValueError(f"no simulated chamber {chamber!r}; choose one of {', '.join(SIM_CHAMBERS)}")
    if cycler not in SIM_CYCLERS and cycler not in SYSTEM_SIM_CYCLERS:
        raise ValueError(f"no simulated cycler {cycler!r}; choose one of "
                         f"{', '.join([*SIM_CYCLERS, *SYSTEM_SIM_CYCLERS])}")
    meter_ep = LineEndpoint(KeysightDaq970aSim(world), now, name="thermometer")
    chamber_ep = LineEndpoint(EspecChamberSim(world), now, read_termination=b"\r\n",
                              write_termination=b"\r\n", name="chamber")
    endpoints = {THERMOMETER_RESOURCE: meter_ep}
    cycler_ep: LineEndpoint | None = None
    if cycler in SIM_CYCLERS:
        cycler_sim, cycler_resource = SIM_CYCLERS[cycler]
        cycler_ep = LineEndpoint(cycler_sim(world), now, name="cycler")
        endpoints[cycler_resource] = cycler_ep
    library = SimVisaLibrary.create(endpoints, wait=clock.sleep)
    rm = pyvisa.ResourceManager(library)
    cycler_driver = cycler
    if chamber == "memmert_oven":
        world.chamber = oven_model(temperature_c)
        chamber_driver, chamber_url = "memmert_atmoweb", OVEN_RESOURCE
    else:
        chamber_driver, chamber_url = "espec_p300", registry.register(chamber_ep, "espec")
    impedance_ep = LineEndpoint(HiokiBT4560Sim(world, seed=seed), now, read_termination=b"\r\n",
                                write_termination=b"\r\n", name="impedance")
    impedance_url = registry.register(impedance_ep, "bt4560")

    if cycler_ep is None:
        cycler_instrument, cycler_resource = _system_channel(cycler, world, clock)
    else:
        cycler_instrument = open_instrument(cycler_driver, cycler_resource, name="cycler", resource_manager=rm)
    thermometer = open_instrument("keysight_daq970a", THERMOMETER_RESOURCE, name="thermometer", resource_manager=rm)
    if chamber_driver == "memmert_atmoweb":
        from drivers.memmert_atmoweb import MemmertAtmoWeb

        chamber_instrument: Any = MemmertAtmoWeb(LocalRest(MemmertOvenSim(world).handle_query, OVEN_RESOURCE),
                                                 name="chamber")
    else:
        chamber_instrument = open_instrument("espec_p300", chamber_url, name="chamber")
    impedance = open_instrument("hioki_bt4560", impedance_url, name="impedance")
    impedance.sleep = clock.sleep  # waits for a measurement happen on the bench clock
    for instrument in (cycler_instrument, thermometer):  # link faults are ridden through on the bench clock
        if hasattr(instrument, "ride_through"):
            instrument.ride_through(clock.now_s, clock.sleep)
    bench = Bench(
        cycler=cycler_instrument, chamber=chamber_instrument, thermometer=thermometer, impedance=impedance, clock=clock,
        description=f"built-in simulated bench ({preset})" + (", PyBaMM SPMe cell" if cell_backend == "pybamm" else ""),
        config={
            "simulated": True, "cell_preset": preset, "cell_backend": cell_backend,
            "cycler": {"driver": cycler_driver, "resource": cycler_resource},
            "chamber": {"driver": chamber_driver, "resource": chamber_url},
            "thermometer": {"driver": "keysight_daq970a", "resource": THERMOMETER_RESOURCE},
            "impedance": {"driver": "hioki_bt4560", "resource": impedance_url},
        },
        simulation=SimulatedBench(world, {**({"cycler": cycler_ep} if cycler_ep is not None else {}),
                                          "thermometer": meter_ep, "impedance": impedance_ep,
                                          **({"chamber": chamber_ep} if chamber_driver == "espec_p300" else {})}),
        simulation_state=world.state_dict,
    )
    bench.closers += [cycler_instrument.transport.close, thermometer.transport.close,
                      chamber_instrument.transport.close, rm.close]
    if chamber_driver == "espec_p300":
        bench.closers.append(lambda: registry.unregister(chamber_url))
    bench.closers += [impedance.transport.close, lambda: registry.unregister(impedance_url)]
    bench.inject_faults = functools.partial(inject_faults, bench)
    return bench


def _system_channel(driver: str, world: SimWorld, clock: Any) -> tuple[Any, str]:
    """Channel 1 of a simulated commercial cycler on world cell 0, through the production channel
    driver over an in-process stream: (the ``Cycler`` handle, its resource). The Maccor channel is
    the 5 V / 60 A :data:`~sim_instruments.cyclers.maccor_macnet.HIGH_CURRENT_CHANNEL` with its
    16-bit readback (76 µV steps)."""
    resource = SYSTEM_SIM_CYCLERS[driver]
    system = make_cycler_system(driver, world, 1, spec=HIGH_CURRENT_CHANNEL)
    pool = SystemPool(lambda res, _timeout: cycler_system_stream(driver, system, res))
    try:
        handle = open_channel(driver, resource, 1, name="cycler", pool=pool, clock=clock)
    except BaseException:
        pool.close()
        raise
    return handle, resource  # closing the handle's transport closes the pool's one connection


def sim_bench_for(protocol: Any, **options: Any) -> Bench:
    """The built-in bench a protocol runs on (its cell preset, the cycler
    :func:`choose_sim_cycler` and the chamber :func:`choose_sim_chamber` pick), for ``bench run``
    and ``bench validate`` alike, so both check the protocol against the same instruments
    (bench.capabilities.recheck_for_bench)."""
    return build_sim_bench(protocol.cell.preset, cycler=choose_sim_cycler(protocol),
                           chamber=choose_sim_chamber(protocol), **options)


def inject_faults(bench: Bench, faults: list[FaultSpec]) -> None:
    """Schedule ``faults`` (times relative to now, the start of the run) on a simulated bench."""
    if not faults:
        return
    sim: SimulatedBench = bench.simulation
    sim.fault_t0_s = sim.world.clock.now_s()
    sim.faults += [(fault, None) for fault in faults]
    sim.schedule += schedule_faults(sim.world, {role: ep.faults for role, ep in sim.endpoints.items()}, faults,
                                    on_start=sim.fault_started)


def schedule_faults(world: SimWorld, link_faults: dict[str, list[CommsFault]], faults: list[FaultSpec],
                    on_start: Any = None) -> list[tuple[FaultSpec, Any]]:
    """Schedule ``faults`` on ``world`` (physical) and on the links' fault lists (by role), with
    times relative to the world's present time; ``on_start(spec, world_time_s)`` is called when
    a physical fault takes effect, or a link fault first meets a message. Returns each fault
    with its handle (see :attr:`SimulatedBench.schedule`)."""
    t0 = world.clock.now_s()
    handles: list[tuple[FaultSpec, Any]] = []
    for fault in faults:
        start = t0 + fault.time_s
        duration = fault.options.get("duration")
        duration_s = float(duration) if isinstance(duration, (int, float)) else None
        if fault.kind.startswith("comms_"):
            instrument = str(fault.options.get("instrument", "cycler"))
            if instrument not in link_faults:
                raise ValueError(f"--fault {fault.text!r}: instrument must be one of {', '.join(link_faults)}")
            kind = {"comms_drop": "no_reply", "comms_garbled": "garbled", "comms_delay": "delay",
                    "comms_disconnect": "disconnect"}[fault.kind]
            delay = fault.options.get("delay", 10.0)
            link = CommsFault(kind, start, duration_s, float(delay) if isinstance(delay, (int, float)) else 10.0)
            link_faults[instrument].append(link)
            handles.append((fault, link))
            if on_start is not None:
                world.hooks.append(_link_watch(fault, link, on_start))
        else:
            when = [start]
            world.hooks.append(_physical_fault(fault, when, on_start))
            handles.append((fault, when))
        logger.info("fault scheduled: %s at %.0f s", fault.kind, fault.time_s)
    return handles


def _link_watch(fault: FaultSpec, link: CommsFault,
                on_start: Callable[[FaultSpec, float], None]) -> Callable[[SimWorld, float], None]:
    """A world hook telling ``on_start`` once, at the world time the link fault first met a message."""
    told = [False]

    def hook(world: SimWorld, now_s: float) -> None:
        if told[0] or link.first_hit_s is None:
            return
        told[0] = True
        on_start(fault, link.first_hit_s)

    return hook


def _physical_fault(fault: FaultSpec, when: list[float],
                    on_start: Callable[[FaultSpec, float], None] | None = None) -> Callable[[SimWorld, float], None]:
    """A world hook applying ``fault`` from world time ``when[0]`` (a list: :meth:`SimulatedBench.rebase` shifts it)."""
    fired = [False]
    channel = int(fault.options.get("channel", 0)) if isinstance(fault.options.get("channel", 0), (int, float)) else 0

    def hook(world: SimWorld, now_s: float) -> None:
        if fired[0] or now_s < when[0]:
            return
        ch = world.channels[channel]
        if fault.condition is not None:
            quantity = fault.condition[0]
            value = (ch.cell.soc if quantity == "soc" else ch.cell.temperature_surface_c
                     if quantity == "temperature_c" else ch.source.actual_voltage_v)
            if not fault.condition_holds(value):
                return
        fired[0] = True
        if fault.kind == "internal_short":
            resistance = fault.options.get("resistance_ohm", 0.05)
            ch.cell.set_internal_short(float(resistance) if isinstance(resistance, (int, float)) else 0.05)
        elif fault.kind == "thermocouple_open":
            ch.thermocouple_open = True
        elif fault.kind == "chamber_stuck":
            world.chamber.fail_stuck()
        elif fault.kind == "chamber_cannot_cool":
            world.chamber.fail_cannot_cool()
        logger.info("fault active: %s at %.0f s", fault.kind, now_s)
        if on_start is not None:
            on_start(fault, now_s)

    return hook
