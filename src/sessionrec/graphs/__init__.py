"""sessionrec.graphs: global structures built once from training sessions in ``prepare``.

Each builder is a small typed function over ``data.sessions.Sessions`` returning SciPy
CSR matrices indexed by internal item ids 0..N (0 = padding, always empty):

- ``transitions``: the directed item transition graph with counts, row normalisation;
- ``cooccurrence``: co-occurrence counted by signed distance within sessions;
- ``incidence``: the sessions-by-items incidence matrix;
- ``fog``: FOCOL's fine-grained co-occurrence graph (counts per signed-distance bucket);
- ``targets``: training samples grouped by next item (same-target positives).
- ``neighbours``: neighbour sessions of prefixes (SKNN retrieval, I3GN).
"""
