"""Wire plumbing shared by every simulator: endpoints, SCPI interpreter and status, TCP and stream servers, the in-process VISA library and the pyserial URL handler."""
