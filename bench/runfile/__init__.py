"""The run file (HDF5, SWMR): its layout, the writer, the reader, SWMR reopen, repair and export.

Layering: knows nothing of the engine, safety or drivers; readers need only h5py and numpy."""
