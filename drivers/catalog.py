"""The drivers CellBench ships, by the name a bench config uses, and how to open one.

Not a registry of instances: a plain table of classes. ``open_instrument`` picks the transport
from the driver and the resource string (VISA resource names through pyvisa; device paths and
pyserial URLs such as ``socket://host:port`` or ``/dev/ttyUSB0`` through pyserial; Modbus TCP
drivers through pymodbus, ``modbus-tcp://host:port[/device_id]``; REST drivers through urllib,
``http://host[:port]``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from drivers.arbin_cti import ArbinCti
from drivers.arbin_delegated import ArbinScheduleChannel, open_arbin_schedule_channel
from drivers.cycler_system import SystemPool
from drivers.ea_psb import EaPsb10060_60
from drivers.errors import InstrumentError
from drivers.espec import EspecP300
from drivers.hioki_bt4560 import HiokiBT4560
from drivers.http_transport import HttpTransport
from drivers.keithley24xx import Keithley2450, Keithley2460, Keithley2461
from drivers.keysight_daq import KeysightDaq970a
from drivers.keysight_n6700 import N6700System, N6781AChannel
from drivers.maccor_delegated import MaccorProcedureChannel, open_maccor_procedure_channel
from drivers.maccor_macnet import MaccorMacNet
from drivers.memmert_atmoweb import MemmertAtmoWeb
from drivers.modbus import ModbusTcpTransport
from drivers.neware_bts import NewareBtsChannel, open_neware_channel
from drivers.transport import MessageTransport, SerialTransport, VisaTransport
from drivers.watlow_f4t import WatlowF4t


@dataclass(frozen=True)
class DriverInfo:
    """A driver's catalog entry: role, class, transport kind and termination characters."""

    name: str
    role: str
    cls: type
    transport: str
    description: str
    read_termination: str = "\n"
    write_termination: str = "\n"
    serial: dict[str, Any] = field(default_factory=dict)
    #: For a multi-channel system: the class of the one connection to it; ``cls`` is then the
    #: class of a channel handle, and a bench config binds ``channel = N``.
    system: type | None = None


DRIVERS: dict[str, DriverInfo] = {
    info.name: info
    for info in (
        DriverInfo("keithley2460", "cycler", Keithley2460, "visa",
                   "Keithley 2460 SourceMeter, ±7.35 A / ±105 V, SCPI"),
        DriverInfo("keithley2461", "cycler", Keithley2461, "visa",
                   "Keithley 2461 SourceMeter, ±7.35 A / ±105 V, SCPI"),
        DriverInfo("keithley2450", "cycler", Keithley2450, "visa",
                   "Keithley 2450 SourceMeter, ±1.05 A / ±210 V, SCPI"),
        DriverInfo("keysight_n6700", "cycler", N6781AChannel, "visa",
                   "Keysight N6700-series mainframe (N6705C), one N6781A SMU per cell: 20 V, ±3 A, "
                   "two-quadrant; one connection, channel = N", system=N6700System),
        DriverInfo("ea_psb10000", "cycler", EaPsb10060_60, "visa",
                   "EA PSB 10060-60 bidirectional supply, 0-60 V / ±60 A / ±1500 W, SCPI"),
        DriverInfo("espec_p300", "chamber", EspecP300, "serial",
                   "Espec chamber, P-300 / SCP-220 controller, ASCII over RS-232 or TCP",
                   read_termination="\r\n", write_termination="\r\n", serial={"baudrate": 9600}),
        DriverInfo("watlow_f4t", "chamber", WatlowF4t, "modbus",
                   "Watlow F4T controller (loop 1 = chamber air), Modbus TCP"),
        DriverInfo("memmert_atmoweb", "chamber", MemmertAtmoWeb, "http",
                   "Memmert oven (UF/UN plus, 20-300 °C, heats only), AtmoWEB REST over HTTP, "
                   "resource http://HOST[:PORT]"),
        DriverInfo("keysight_daq970a", "thermometer", KeysightDaq970a, "visa",
                   "Keysight DAQ970A / 34970A with type-K thermocouples, SCPI"),
        DriverInfo("maccor_macnet", "cycler", MaccorMacNet, "system",
                   "Maccor tester (MacTest32), MacNet JSON over TCP (port 57570), one connection per system; "
                   "each [[cycler]] names its test channel"),
        DriverInfo("arbin_cti", "cycler", ArbinCti, "system",
                   "Arbin MITS Pro, Console TCP/IP Interface (port 9031), one connection per system; channels run "
                   "the meta-variable control schedule (see drivers/arbin_cti.py)"),
        DriverInfo("neware_bts", "cycler", NewareBtsChannel, "delegated",
                   "Neware BTS 8.0 (BTS client API, XML over TCP, port 502): delegated execution only, the "
                   "channel runs the protocol compiled to a step file; [[cycler]] names pipeline = "
                   "\"devid-subdevid-chlid\" (or channel = N) and step_dir (a folder the BTS PC reads)"),
        DriverInfo("arbin_schedule", "cycler", ArbinScheduleChannel, "delegated",
                   "Arbin MITS Pro through CTI, delegated execution: the protocol as an .sdu schedule uploaded "
                   "(file port 9032: file_resource) and started; [[cycler]] names channel, username, password"),
        DriverInfo("maccor_procedure", "cycler", MaccorProcedureChannel, "delegated",
                   "Maccor tester through MacNet, delegated execution: the protocol as a .000 procedure sent on "
                   "the binary port (binary_resource, 57560) and started with (6, 2); [[cycler]] names channel"),
        DriverInfo("hioki_bt4560", "impedance", HiokiBT4560, "serial",
                   "Hioki BT4560 battery impedance meter, 0.1 Hz-1050 Hz, RS-232C / USB virtual COM",
                   read_termination="\r\n", write_termination="\r\n", serial={"baudrate": 9600}),
    )
}


def driver_info(name: str) -> DriverInfo:
    """The catalog entry for ``name``; KeyError with the list of known drivers otherwise."""
    try:
        return DRIVERS[name]
    except KeyError:
        raise KeyError(f"unknown driver {name!r}; known: {', '.join(sorted(DRIVERS))}") from None


def open_transport(info: DriverInfo, resource: str, *, resource_manager: Any | None = None,
                   timeout_s: float = 2.0) -> MessageTransport | ModbusTcpTransport | HttpTransport:
    """Open the link named by ``resource`` for driver ``info`` (register-based for Modbus drivers,
    HTTP GETs for REST drivers)."""
    if info.transport == "http":
        return HttpTransport(resource, timeout_s=timeout_s)
    if info.transport == "modbus":
        return ModbusTcpTransport.from_resource(resource, timeout_s=timeout_s)
    is_visa_name = "::" in resource and "://" not in resource
    if is_visa_name:
        if resource_manager is None:
            import pyvisa

            try:
                resource_manager = pyvisa.ResourceManager("@py")
            except (OSError, ValueError) as exc:
                raise InstrumentError(f"{resource}: no VISA library: {exc}") from exc
        return VisaTransport(resource_manager, resource, timeout_s=timeout_s,
                             read_termination=info.read_termination,
                             write_termination=info.write_termination)
    return SerialTransport(resource, timeout_s=timeout_s, read_termination=info.read_termination,
                           write_termination=info.write_termination, **info.serial)


def open_instrument(driver: str, resource: str, *, name: str, resource_manager: Any | None = None,
                    timeout_s: float = 2.0, channel: int | None = None,
                    systems: dict[tuple[str, str], Any] | None = None) -> Any:
    """Open ``resource`` and wrap it in the driver class of ``driver``.

    A multi-channel SCPI mainframe (``DriverInfo.system``, e.g. the Keysight N6700) needs
    ``channel``; its channel handle is returned. ``systems`` (the caller's, one per bench) keeps
    one connection per (driver, resource), so every channel bound to the same mainframe shares it.
    Commercial cycler systems (transport ``"system"``: Maccor, Arbin) open with :func:`open_channel`.
    """
    info = driver_info(driver)
    if info.transport == "delegated":
        raise InstrumentError(f"{resource}: driver {driver!r} runs step files (delegated execution); it has no "
                              "live-control cycler (open it with drivers.catalog.open_delegated)")
    if info.transport == "system":
        raise InstrumentError(f"{resource}: driver {driver!r} is a multi-channel system: the config needs "
                              "'channel' (open it with drivers.catalog.open_channel)")
    if info.system is None:
        if channel is not None:
            raise ValueError(f"{name}: driver {driver!r} has no channels (channel = {channel})")
        transport = open_transport(info, resource, resource_manager=resource_manager, timeout_s=timeout_s)
        return info.cls(transport, name=name)
    if channel is None:
        raise ValueError(f"{name}: driver {driver!r} is a multi-channel system: give channel = N")
    key = (driver, resource)
    system = systems.get(key) if systems is not None else None
    if system is None:
        transport = open_transport(info, resource, resource_manager=resource_manager, timeout_s=timeout_s)
        system = info.system(transport, name=driver)
        if systems is not None:
            systems[key] = system
    return system.channel(channel, name=name)


def open_channel(driver: str, resource: str, channel: int, *, name: str, pool: SystemPool,
                 timeout_s: float = 2.0, **options: Any) -> Any:
    """A channel handle (``Cycler`` role) of the multi-channel system ``driver`` at ``resource``.

    Handles of one ``pool`` that name the same resource share one connection (the system's);
    closing a handle's ``transport`` releases it, the connection closes with the last one.
    ``options`` go to the system class (e.g. ``clock``, ``direct_mode_watchdog_s`` for Maccor).
    Raises NoSuchChannel (an InstrumentError) for a channel the system does not have.
    """
    info = driver_info(driver)
    if info.transport != "system":
        raise InstrumentError(f"{resource}: driver {driver!r} has no channels; open it with open_instrument")
    return pool.channel(info.cls, resource, channel, name=name, timeout_s=timeout_s, **options)


#: Openers of the delegated-execution drivers (``DriverInfo.transport == "delegated"``).
_DELEGATED_OPENERS: dict[str, Callable[..., Any]] = {"neware_bts": open_neware_channel, "arbin_schedule": open_arbin_schedule_channel,
                                                    "maccor_procedure": open_maccor_procedure_channel}
#: The bench-config keys each delegated driver takes besides driver, resource, timeout_s.
DELEGATED_OPTIONS = {"neware_bts": ("channel", "pipeline", "step_dir"),
                     "arbin_schedule": ("channel", "username", "password", "file_resource", "work_dir", "data_dir"),
                     "maccor_procedure": ("channel", "binary_resource")}


def open_delegated(driver: str, resource: str, *, name: str, timeout_s: float = 5.0, **options: Any) -> Any:
    """A :class:`drivers.delegated.channel.DelegatedChannel` of ``driver`` at ``resource``, from a
    ``[[cycler]]`` entry's options (``channel``, ``pipeline``, ``step_dir`` for ``neware_bts``;
    other keys are ignored). InstrumentError when it cannot be reached."""
    info = driver_info(driver)
    if info.transport != "delegated":
        raise InstrumentError(f"{resource}: driver {driver!r} is a live-control cycler, not a delegated one")
    allowed = DELEGATED_OPTIONS.get(driver, ())
    return _DELEGATED_OPENERS[driver](resource, name=name, timeout_s=timeout_s,
                                      **{k: v for k, v in options.items() if k in allowed})
