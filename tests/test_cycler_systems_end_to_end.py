"""End to end on commercial multi-channel cyclers: the production channel drivers, handed in-process
streams to the simulated systems, run a short charge/rest/discharge protocol on several channels
with the multi-channel runner (one engine per channel, virtual clock)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import pyvisa

from bench.multichannel.run import MultiChannelBench, run_multichannel
from bench.multichannel.sharing import SharedThermometer
from bench.simulated.builtin_bench import cell_datasheet
from bench.simulated.multichannel import AIR_CHANNEL, wiring
from drivers.catalog import open_channel, open_instrument
from drivers.cycler_system import SystemPool
from protocols.loader import load_protocol
from sim_instruments.cyclers.arbin_cti import ArbinSystemSim
from sim_instruments.cyclers.arbin_wire import arbin_stream
from sim_instruments.cyclers.maccor_macnet import MaccorSystemSim
from sim_instruments.cyclers.maccor_wire import maccor_stream
from sim_instruments.meters.keysight_daq970a import KeysightDaq970aSim
from sim_instruments.wire.endpoint import LineEndpoint
from sim_instruments.wire.stream_server import LinkState
from sim_instruments.wire.visa_library import SimVisaLibrary
from sim_instruments.world.clock import VirtualClock
from sim_instruments.world.sim_world import SimWorld

pytestmark = pytest.mark.timeout(120)

PROTOCOL = """\
name: system_cycle
cell: {preset: nmc_21700}
limits: {voltage_max_v: 4.2, voltage_min_v: 2.5, current_max_a: 5.0, temperature_max_c: 60}
steps:
  - Charge at 0.5C for 10 minutes
  - Rest for 2 minutes
  - Discharge at 1C for 10 minutes
"""


@pytest.fixture
def protocol(tmp_path):
    path = tmp_path / "system_cycle.yaml"
    path.write_text(PROTOCOL, encoding="utf-8")
    return load_protocol(str(path), {}, cell_defaults=cell_datasheet)


def _maccor(world, clock):
    sim = MaccorSystemSim(world)
    return sim, SystemPool(lambda resource, _timeout: maccor_stream(sim, resource)), {"clock": clock}


def _arbin(world, clock):
    sim = ArbinSystemSim(world)
    options = {"clock": clock, "username": "admin", "password": "000000"}
    return sim, SystemPool(lambda resource, _timeout: arbin_stream(sim, resource)), options


@pytest.mark.parametrize(("driver", "make"), [("maccor_macnet", _maccor), ("arbin_cti", _arbin)])
def test_system_channels_run_a_protocol_through_the_production_driver(driver, make, protocol, tmp_path):
    clock = VirtualClock()
    world = SimWorld.single_cell(clock, channels=3, soc=0.5)
    sim, pool, options = make(world, clock)
    resource = "TCPIP::192.0.2.40::9031::SOCKET"
    cyclers = [open_channel(driver, resource, k + 1, name=f"cycler{k}", pool=pool, **options) for k in range(3)]
    assert len(pool.systems) == 1
    # Cell thermocouples on a DAQ970A, as on the built-in multi-channel bench.
    wires = wiring(3)
    daq = KeysightDaq970aSim(world, cell_channels={tc: k for k, (_m, tc) in enumerate(wires)},
                             air_channels=(AIR_CHANNEL,))
    meter_resource = "USB0::0x2A8D::0x5001::MY58000000::INSTR"
    rm = pyvisa.ResourceManager(SimVisaLibrary.create({meter_resource: LineEndpoint(daq, clock.now_s)}))
    meter = open_instrument("keysight_daq970a", meter_resource, name="thermometer0", resource_manager=rm)
    bench = MultiChannelBench(cyclers=cyclers, clock=clock, description=f"{driver}, 3 channels (simulated)",
                              meters=[SharedThermometer(meter, clock, air_channel=AIR_CHANNEL, max_age_s=0.2)],
                              wiring=wires, closers=[c.transport.close for c in cyclers] + [rm.close])
    try:
        outcome = run_multichannel(protocol, bench, tmp_path / "run.h5", observe_s=0.0)
    finally:
        bench.close()
    assert pool.systems == {}  # the last channel closed the system's connection
    assert outcome.exit_code == 0, [(c.error, c.outcome and c.outcome.result.message) for c in outcome.channels]
    capacity_ah = protocol.cell.capacity_ah
    for result in outcome.channels:
        with h5py.File(result.path, "r") as f:
            samples = f["samples"]
            current = np.asarray(samples["Current / A"])
            voltage = np.asarray(samples["Voltage / V"])
            step = np.asarray(samples["Step Index / 1"])
        steps = step[step >= 0]  # (-1: the final observation after the protocol)
        charge, discharge = current[step == steps.min()], current[step == steps.max()]
        assert np.median(charge) == pytest.approx(0.5 * capacity_ah, rel=0.01)
        assert np.median(discharge) == pytest.approx(-capacity_ah, rel=0.01)
        assert 2.5 < voltage.min() and voltage.max() < 4.2
    assert not any(world_channel.source.output_on for world_channel in world.channels)  # every channel stopped


def test_a_dropped_link_fails_every_channel_of_that_system_while_the_other_system_completes(protocol, tmp_path):
    clock = VirtualClock()
    world = SimWorld.single_cell(clock, channels=4, soc=0.5)
    sims = [MaccorSystemSim(world, [0, 1], system_id="A"), MaccorSystemSim(world, [2, 3], system_id="B")]
    links = [LinkState(), LinkState()]
    streams = {"TCPIP::192.0.2.41::57570::SOCKET": (sims[0], links[0]),
               "TCPIP::192.0.2.42::57570::SOCKET": (sims[1], links[1])}
    pool = SystemPool(lambda resource, _timeout: maccor_stream(*streams[resource][:1], resource,
                                                               link=streams[resource][1]))
    cyclers = [open_channel("maccor_macnet", resource, k, name=f"cycler{2 * n + k - 1}", pool=pool, clock=clock)
               for n, resource in enumerate(streams) for k in (1, 2)]
    assert len(pool.systems) == 2

    def drop(_world, now_s):  # the cable of system A is pulled 5 minutes in
        if now_s >= 300.0:
            links[0].down = True

    world.hooks.append(drop)
    wires = wiring(4)
    daq = KeysightDaq970aSim(world, cell_channels={tc: k for k, (_m, tc) in enumerate(wires)},
                             air_channels=(AIR_CHANNEL,))
    meter_resource = "USB0::0x2A8D::0x5001::MY58000000::INSTR"
    rm = pyvisa.ResourceManager(SimVisaLibrary.create({meter_resource: LineEndpoint(daq, clock.now_s)}))
    meter = open_instrument("keysight_daq970a", meter_resource, name="thermometer0", resource_manager=rm)
    bench = MultiChannelBench(cyclers=cyclers, clock=clock, description="two Maccor systems (simulated)",
                              meters=[SharedThermometer(meter, clock, air_channel=AIR_CHANNEL, max_age_s=0.2)],
                              wiring=wires, closers=[c.transport.close for c in cyclers] + [rm.close])
    try:
        outcome = run_multichannel(protocol, bench, tmp_path / "run.h5", observe_s=0.0)
    finally:
        bench.close()
    codes = [c.exit_code for c in outcome.channels]
    assert codes == [4, 4, 0, 0], [(c.error, c.outcome and c.outcome.result.message) for c in outcome.channels]
    messages = [c.outcome.result.message for c in outcome.channels[:2]]
    assert "channel 1" in messages[0] and "channel 2" in messages[1], messages
    for result in outcome.channels[:2]:  # every sample taken before the drop is in the run file
        with h5py.File(result.path, "r") as f:
            times = np.asarray(f["samples"]["Test Time / s"])
        assert times.max() >= 298.0 and len(times) >= 298
