"""A run's report: the verdict with its conditions and metrics (``verdict``) and the HTML page
(``html``). Reads run files; imports neither the engine nor drivers."""
