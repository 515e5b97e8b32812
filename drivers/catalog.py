"""The drivers CellBench ships, by the name a bench config uses, and how to open one.

Not a registry of instances: a plain table of classes. ``open_instrument`` picks the transport
from the driver and the resource string (VISA resource names through pyvisa; device paths and
pyserial URLs such as ``socket://host:port`` or ``/dev/ttyUSB0`` through pyserial; Modbus TCP
drivers through pymodbus, ``modbus-tcp://host:port[/device_id]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drivers.ea_psb import EaPsb10060_60
from drivers.errors import InstrumentError
from drivers.espec import EspecP300
from drivers.hioki_bt4560 import HiokiBT4560
from drivers.keithley24xx import Keithley2450, Keithley2460, Keithley2461
from drivers.keysight_daq import KeysightDaq970a
from drivers.modbus import ModbusTcpTransport
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


DRIVERS: dict[str, DriverInfo] = {
    info.name: info
    for info in (
        DriverInfo("keithley2460", "cycler", Keithley2460, "visa",
                   "Keithley 2460 SourceMeter, ±7.35 A / ±105 V, SCPI"),
        DriverInfo("keithley2461", "cycler", Keithley2461, "visa",
                   "Keithley 2461 SourceMeter, ±7.35 A / ±105 V, SCPI"),
        DriverInfo("keithley2450", "cycler", Keithley2450, "visa",
                   "Keithley 2450 SourceMeter, ±1.05 A / ±210 V, SCPI"),
        DriverInfo("ea_psb10000", "cycler", EaPsb10060_60, "visa",
                   "EA PSB 10060-60 bidirectional supply, 0-60 V / ±60 A / ±1500 W, SCPI"),
        DriverInfo("espec_p300", "chamber", EspecP300, "serial",
                   "Espec chamber, P-300 / SCP-220 controller, ASCII over RS-232 or TCP",
                   read_termination="\r\n", write_termination="\r\n", serial={"baudrate": 9600}),
        DriverInfo("watlow_f4t", "chamber", WatlowF4t, "modbus",
                   "Watlow F4T controller (loop 1 = chamber air), Modbus TCP"),
        DriverInfo("keysight_daq970a", "thermometer", KeysightDaq970a, "visa",
                   "Keysight DAQ970A / 34970A with type-K thermocouples, SCPI"),
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
                   timeout_s: float = 2.0) -> MessageTransport | ModbusTcpTransport:
    """Open the link named by ``resource`` for driver ``info`` (register-based for Modbus drivers)."""
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
                    timeout_s: float = 2.0) -> Any:
    """Open ``resource`` and wrap it in the driver class of ``driver``."""
    info = driver_info(driver)
    transport = open_transport(info, resource, resource_manager=resource_manager, timeout_s=timeout_s)
    return info.cls(transport, name=name)
