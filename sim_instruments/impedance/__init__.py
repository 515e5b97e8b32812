"""Simulated impedance analysers: spectra of the shared world's cell over the wire."""
