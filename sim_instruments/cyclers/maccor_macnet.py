"""Simulated Maccor tester (MacTest32 with MacNet): one system, N test channels on N world cells.

Command table from Maccor's help "Remote Control - MacNet - LabView" (the copy in the public
pymacnet repository, docs/macnet_from_maccor_help.pdf), not from any driver:

* JSON-RPC 2.0 on TCP (``MacNet_JSON_Port``, default 57570): ``{"jsonrpc": "2.0", "method":
  "MacNet", "params": {"FClass", "FNum", ...}, "id"}``; problems come back as JSON-RPC errors with
  the messages of section "JSON protocol" (Parse error; Method MacNet, jsonrpc 2.0 or id not found;
  Invalid params; "FClass"/"FNum" key does not exist or value syntax error; Invalid FClass;
  Invalid FNum; Missing object; Illegal value) and the JSON-RPC 2.0 codes (-32700 parse,
  -32600 invalid request, -32601 method not found, -32602 invalid params). Requests arrive as
  JSON objects on the stream without a separator; each reply is compact JSON ending in CR LF.
* Functions: (1, 1) version, (1, 2) general information, (3, 1) channel specification,
  (4, 1) status of several channels, (4, 2) voltages, (4, 3) currents, (4, 4) auxiliary readings
  (here one thermocouple on the cell surface, °C), (4, 7) status and readings of one channel,
  (4, 9) test times, (6, 2) start test with a procedure sent by (1, 6) (run on the world:
  :mod:`sim_instruments.cyclers.maccor_procedures`; an unknown one is refused with "Procedure does
  not exist"), (6, 3) suspend, (6, 4) resume, (6, 5) reset, (6, 7) start direct
  mode, (6, 8) set direct mode output, (6, 9) set variable, (6, 10) set safety. The binary TCP
  port (default 57560) is in :mod:`sim_instruments.cyclers.maccor_wire`.

Behaviour: ``Chan`` is 0-based. (6, 7) needs an Available channel (else Result "The channel is not
available"); (6, 8) needs an active direct-mode channel (else "The channel is not active" /
"Direct mode is not active") and 100 ms since the channel's previous control command (else
"Command sent too fast ..."). Current, Voltage, Power are mutually limiting; values outside the
channel's range are ignored; ChMode ``C`` charges at Current up to Voltage (CC then CV), ``D``
discharges at Current down to Voltage, ``R`` rests. Safety (6, 10): a channel passing VSafeMax /
VSafeMin / ISafeChg / ISafeDis is suspended (Stat 3 Suspended, RF1 30, RF2 253 "V safety
absolute" or 254 for current). ``MacNetDirectModeWD`` (System.ini; ``direct_mode_watchdog_s``):
a direct-mode channel not updated for that long is suspended (RF2 192). Readings: ``Current`` is
the magnitude, ``RF1`` 1 charge / 2 discharge / 4 rest gives the direction (Maccor data files'
convention). Units: V, A, W, Ah, Wh, s, °C.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import struct
from dataclasses import dataclass, field
from typing import Any

from sim_instruments.cyclers.maccor_procedures import ProcedureTests
from sim_instruments.world.sim_world import SimWorld

logger = logging.getLogger(__name__)

#: (4, 1) Stat values used here, and RF1 controller codes.
STAT_AVAILABLE, STAT_ACTIVE, STAT_SUSPENDED = 0, 2, 3
RF1_AVAILABLE, RF1_CHARGE, RF1_DISCHARGE, RF1_REST, RF1_SUSPENDED = 0, 1, 2, 4, 30
RF2_OPERATOR_SUSPENDED, RF2_V_SAFETY, RF2_I_SAFETY = 192, 253, 254
#: (6, 7) / (6, 8) Result texts by code.
DIRECT_RESULTS = {1: "Illegal system type. This feature only works for type 0",
                  2: "The channel is not available", 3: "Command sent too fast. There must be at least 100 ms "
                  "(10 ticks) between commands.", 4: "Direct mode is not active.", 5: "Direct mode is not ready yet."}
NOT_ACTIVE = "The channel is not active"
MIN_CONTROL_INTERVAL_S = 0.1


#: Bits of the channel's voltage measurement (its readback steps: the span / 2**bits).
#: ASSUMED 16 bits (a Series 4000 test channel): Maccor's published specification sheet could not
#: be retrieved to cite here; a channel of 0..5 V then reads in steps of 76.3 µV.
READBACK_BITS = 16


@dataclass(frozen=True)
class ChannelSpec:
    """(3, 1) channel specification: voltage span, four current ranges (charge = discharge), V and A;
    ``readback_bits``: the resolution of the voltage reading over the voltage span (the current
    reading is not quantised here: the set point reads back as set)."""

    vmax_v: float = 5.0
    vmin_v: float = 0.0
    ranges_a: tuple[float, float, float, float] = (0.00015, 0.005, 0.15, 10.0)
    tick_s: float = 0.005
    readback_bits: int = READBACK_BITS

    @property
    def voltage_step_v(self) -> float:
        """The voltage reading's step, V."""
        return (self.vmax_v - self.vmin_v) / 2 ** self.readback_bits


    @property
    def power_w(self) -> float:
        """Largest power the channel can deliver, W (set points above it are ignored)."""
        return self.vmax_v * self.ranges_a[3]


#: A high-current channel (5 V, 60 A: the current of the EA PSB 10060-60 it replaces on the built-in
#: bench, so every protocol that ran there fits) for the cells above the Keithley 2460's 7.35 A;
#: ranges 5 mA / 150 mA / 5 A / 60 A (ASSUMED: a real channel's (3, 1) reply tells the driver its own).
HIGH_CURRENT_CHANNEL = ChannelSpec(ranges_a=(0.005, 0.15, 5.0, 60.0))


@dataclass
class MaccorChannelState:
    """One test channel: software state, direct-mode set point, safety limits, counters."""

    index: int
    stat: int = STAT_AVAILABLE
    rf1: int = RF1_AVAILABLE
    rf2: int = 0
    direct: bool = False
    mode: str = "R"
    current_a: float = 0.0
    voltage_v: float = math.inf
    power_w: float = math.inf
    range_index: int = 4
    safety: dict[str, float] = field(default_factory=lambda: {
        "VSafeMax": 5.0, "VSafeMin": 0.0, "ISafeChg": 10.0, "ISafeDis": 10.0, "PBatSafeChg": 50.0, "PBatSafeDis": 50.0})
    test_start_s: float = 0.0
    step_start_s: float = 0.0
    last_control_s: float = -math.inf
    capacity_ah: float = 0.0
    energy_wh: float = 0.0
    step: int = 0
    #: (6, 7) DataTime: seconds between data records (0: none).
    data_time_s: float = 0.0
    test_name: str = ""
    variables: list[float] = field(default_factory=lambda: [0.0] * 15)


class MaccorSystemSim:
    """A Maccor system whose test channel k drives ``world.channels[channels[k]]``.

    ``system_type`` 0 is a lab system (the only type with direct mode). ``procedures``: test
    procedure names that exist (none: the simulator runs direct mode only).
    """

    def __init__(self, world: SimWorld, channels: list[int] | None = None, *, system_id: str = "CELLBENCH-SIM",
                 spec: ChannelSpec | None = None, system_type: int = 0,
                 direct_mode_watchdog_s: float = 0.0) -> None:
        self.world = world
        self.world_channels = list(range(len(world.channels))) if channels is None else list(channels)
        self.system_id = system_id
        self.spec = spec or ChannelSpec()
        self.system_type = system_type
        self.direct_mode_watchdog_s = direct_mode_watchdog_s
        self.channels = [MaccorChannelState(index=k) for k in range(len(self.world_channels))]
        #: Procedures sent to the tester and the tests run from them.
        self.procedure_tests = ProcedureTests(self)
        self._last_sync_s = world.clock.now_s()
        world.hooks.append(self._hook)

    # -- physics ---------------------------------------------------------------------------------------
    def source(self, chan: int) -> Any:
        """The world output stage of test channel ``chan`` (0-based)."""
        return self.world.channels[self.world_channels[chan]].source

    def cell(self, chan: int) -> Any:
        return self.world.channels[self.world_channels[chan]].cell

    def sync(self) -> float:
        """Bring the world to now and every channel's state with it; the time in seconds."""
        now = self.world.sync()
        for state in self.channels:
            self._check(state, now)
        return now

    def _hook(self, world: SimWorld, now_s: float) -> None:
        """At every sync of the world: counters, safety, watchdog, discharge floor."""
        dt_s = now_s - self._last_sync_s
        self._last_sync_s = now_s
        for state in self.channels:
            if state.index in self.procedure_tests.running:
                self.procedure_tests.follow(state.index)
                continue
            self._check(state, now_s)
            # The hook runs before the world steps over these dt_s seconds: count what will flow.
            channel = world.channels[self.world_channels[state.index]]
            if state.direct and channel.source.output_on and dt_s > 0:
                current = channel.applied_current_a()
                state.capacity_ah += abs(current) * dt_s / 3600.0
                state.energy_wh += abs(current * channel.cell.terminal_voltage_v(current)) * dt_s / 3600.0

    def _check(self, state: MaccorChannelState, now_s: float) -> None:
        if not state.direct:
            return
        src = self.source(state.index)
        if src.protection_tripped:  # the world's OVP / OCP (VSafeMax, ISafe): suspend
            tripped, src.protection_tripped = src.protection_tripped, ""
            self._suspend(state, RF2_V_SAFETY if tripped == "OVP" else RF2_I_SAFETY)
            return
        if not src.output_on:
            return
        if src.actual_voltage_v < state.safety["VSafeMin"] and src.actual_current_a < 0:
            self._suspend(state, RF2_V_SAFETY)
            return
        margin = 1.0 + 1e-6  # the limits are stored as singles: a set point equal to one is not beyond it
        if src.actual_current_a > state.safety["ISafeChg"] * margin or -src.actual_current_a > state.safety["ISafeDis"] * margin:
            self._suspend(state, RF2_I_SAFETY)
            return
        wd = self.direct_mode_watchdog_s
        if wd > 0 and now_s - state.last_control_s > wd:
            logger.info("simulated Maccor: channel %d not updated for %.1f s > MacNetDirectModeWD %g s: suspended",
                        state.index + 1, now_s - state.last_control_s, wd)
            self._suspend(state, RF2_OPERATOR_SUSPENDED)
            return
        self._apply(state)

    def _suspend(self, state: MaccorChannelState, rf2: int) -> None:
        self.source(state.index).output_on = False
        state.stat, state.rf1, state.rf2 = STAT_SUSPENDED, RF1_SUSPENDED, rf2
        logger.info("simulated Maccor: channel %d suspended (RF2 %d)", state.index + 1, rf2)

    def _apply(self, state: MaccorChannelState) -> None:
        """The direct-mode set point on the channel's output stage (mutually limiting values)."""
        src = self.source(state.index)
        cell = self.cell(state.index)
        spec = self.spec
        src.overvoltage_v = state.safety["VSafeMax"]
        src.overcurrent_a = None  # directional current safety: checked in _check
        top = spec.ranges_a[state.range_index - 1]
        current = min(state.current_a, top) if 0 <= state.current_a <= spec.ranges_a[3] else 0.0
        open_v = cell.terminal_voltage_v(0.0)
        if 0 <= state.power_w <= spec.power_w:
            current = min(current, state.power_w / max(open_v, 0.1))
        voltage = state.voltage_v if spec.vmin_v <= state.voltage_v <= spec.vmax_v else None
        if state.mode == "C" and current > 0:
            src.function, src.current_a = "CURR", current
            src.voltage_limit_v = voltage if voltage is not None else spec.vmax_v
            state.rf1 = RF1_CHARGE
        elif state.mode == "D" and current > 0 and (voltage is None or open_v > voltage):
            # Discharge at `current` down to Voltage: regulate to it, the current limited (CC then CV).
            src.function, src.voltage_v, src.current_limit_a = "VOLT", voltage if voltage is not None else spec.vmin_v, current
            state.rf1 = RF1_DISCHARGE
        else:
            src.function, src.current_a, src.voltage_limit_v = "CURR", 0.0, spec.vmax_v
            state.rf1 = RF1_REST
        src.output_on = True

    # -- channel commands (Result text, "OK" when done) -------------------------------------------------
    def start_direct(self, chan: int, params: dict[str, Any], now_s: float) -> str:
        """(6, 7) start direct mode."""
        state = self.channels[chan]
        if self.system_type != 0:
            return DIRECT_RESULTS[1]
        if state.stat != STAT_AVAILABLE:
            return DIRECT_RESULTS[2]
        self._set_output(state, params)
        name = str(params.get("TestName", "Random"))
        state.test_name = f"DIRECT_{chan + 1:03d}_{int(now_s * 1000):x}" if name == "Random" else name
        state.direct, state.stat, state.rf2 = True, STAT_ACTIVE, 0
        state.test_start_s = state.step_start_s = state.last_control_s = now_s
        state.capacity_ah = state.energy_wh = 0.0
        state.step = 1
        state.data_time_s = max(float(params.get("DataTime", 0.0)), 0.0)
        self._apply(state)
        return "OK"

    def set_direct(self, chan: int, params: dict[str, Any], now_s: float) -> str:
        """(6, 8) set direct mode output."""
        state = self.channels[chan]
        if self.system_type != 0:
            return DIRECT_RESULTS[1]
        if state.stat != STAT_ACTIVE:
            return NOT_ACTIVE
        if not state.direct:
            return DIRECT_RESULTS[4]
        if now_s - state.last_control_s < MIN_CONTROL_INTERVAL_S - 1e-9:
            return DIRECT_RESULTS[3]
        self._set_output(state, params)
        state.last_control_s = state.step_start_s = now_s
        state.step += 1
        state.capacity_ah = state.energy_wh = 0.0
        self._apply(state)
        return "OK"

    @staticmethod
    def _set_output(state: MaccorChannelState, params: dict[str, Any]) -> None:
        mode = params.get("ChMode", "C")
        if isinstance(mode, int):
            mode = chr(mode)
        if mode not in ("C", "D", "R"):
            raise ValueError("ChMode")
        rng = int(params.get("CurrentRange", 4))
        if rng not in (1, 2, 3, 4):
            raise ValueError("CurrentRange")
        state.current_a = float(params.get("Current", 0.0))
        state.voltage_v = float(params.get("Voltage", math.inf))
        state.power_w = float(params.get("Power", math.inf))
        state.mode, state.range_index = mode, rng

    def suspend(self, chan: int) -> str:
        """(6, 3) suspend an active channel."""
        state = self.channels[chan]
        if state.stat != STAT_ACTIVE:
            return NOT_ACTIVE
        self._suspend(state, RF2_OPERATOR_SUSPENDED)
        return "OK"

    def resume(self, chan: int, now_s: float) -> str:
        """(6, 4) resume a suspended channel."""
        state = self.channels[chan]
        if state.stat != STAT_SUSPENDED:
            return "Channel not Suspended"
        state.stat, state.rf2, state.last_control_s = STAT_ACTIVE, 0, now_s
        self._apply(state)
        return "OK"

    def reset(self, chan: int) -> str:
        """(6, 5) reset: the test ends, output off, channel Available."""
        self.procedure_tests.reset(chan)
        state = self.channels[chan]
        src = self.source(chan)
        src.output_on = False
        src.protection_tripped = ""
        state.direct, state.stat, state.rf1, state.rf2 = False, STAT_AVAILABLE, RF1_AVAILABLE, 0
        state.mode, state.current_a = "R", 0.0
        return "OK"

    def set_safety(self, chan: int, params: dict[str, Any]) -> dict[str, float]:
        """(6, 10) set safety; the values held, rounded to single precision as the tester stores them."""
        state = self.channels[chan]
        for key in state.safety:
            if key in params:
                state.safety[key] = _single(float(params[key]))
        if state.direct:
            self._apply(state)
        return dict(state.safety)

    def readings(self, chan: int) -> tuple[float, float]:
        """Measured (voltage_v, current magnitude A) of test channel ``chan``; the voltage in the
        channel's readback steps (:attr:`ChannelSpec.voltage_step_v`)."""
        voltage, current = self.world.measure(self.world_channels[chan])
        v_step = self.spec.voltage_step_v
        return round(voltage / v_step) * v_step, abs(current)

    def status(self, chan: int, now_s: float) -> dict[str, Any]:
        """(4, 7) fields of test channel ``chan`` (0-based)."""
        state = self.channels[chan]
        voltage, current = self.readings(chan)
        active = state.stat in (STAT_ACTIVE, STAT_SUSPENDED)
        records = int((now_s - state.test_start_s) / state.data_time_s) + 1 if active and state.data_time_s else 0
        machine = self.procedure_tests.running.get(chan)
        if machine is not None:
            records = len(machine.records)
        return {"RF1": state.rf1, "RF2": state.rf2, "Stat": state.stat, "LastRecNum": records,
                "Cycle": machine.cycle_index if machine is not None else 0,
                "Step": state.step, "TestTime": _single(now_s - state.test_start_s) if active else 0.0,
                "StepTime": _single(now_s - state.step_start_s) if active else 0.0,
                "Capacity": _single(state.capacity_ah), "Energy": _single(state.energy_wh),
                "Current": _single(current), "Voltage": _single(voltage),
                "TesterTime": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")}

    def channel_spec(self) -> dict[str, float]:
        """(3, 1) fields (every channel alike)."""
        spec = self.spec
        fields: dict[str, float] = {"TickSpeed": spec.tick_s, "Vmax": spec.vmax_v, "Vmin": spec.vmin_v,
                                    "VSafeMax": spec.vmax_v, "VSafeMin": spec.vmin_v}
        for n in (4, 3, 2, 1):
            fields[f"IR{n}Chg"] = _single(spec.ranges_a[n - 1])
        for n in (4, 3, 2, 1):
            fields[f"IR{n}Dis"] = _single(spec.ranges_a[n - 1])
        fields.update({"ISafeChg": spec.ranges_a[3], "ISafeDis": spec.ranges_a[3], "PBatSafeChg": spec.power_w,
                       "PBatSafeDis": spec.power_w, "PChanSafeChg": 0, "PChanSafeDis": 0, "PSVChg": 0, "PSVDis": 0})
        return fields

    def surface_c(self, chan: int) -> float:
        """The auxiliary thermocouple on the cell of test channel ``chan``, °C."""
        return self.cell(chan).temperature_surface_c


def _single(value: float) -> float:
    """``value`` as an IEEE 754 single (MacNet's ``Single`` fields), back as a Python float."""
    return struct.unpack("<f", struct.pack("<f", value))[0]
