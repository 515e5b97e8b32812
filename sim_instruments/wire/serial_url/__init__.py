"""pyserial URL handlers for simulated instruments (``serial.serial_for_url("cellsim://NAME")``)."""
