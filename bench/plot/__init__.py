"""Live plots of a run (pyqtgraph, separate process) and PNG rendering.

``data`` and ``decimate`` read and reduce the run file without Qt; ``view`` draws; ``render``
writes PNGs offscreen (``bench plot RUN.h5 --png FILE``); ``live`` is the window process that
``bench run --live`` / ``bench plot --live`` start, so a plot problem never touches acquisition.
Qt (PySide6) and pyqtgraph come with the ``plot`` extra: ``pip install 'cellbench[plot]'``.
"""
