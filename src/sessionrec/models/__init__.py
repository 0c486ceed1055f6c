"""Built-in models; importing this package registers them."""

from sessionrec.models import (
    csrm,  # noqa: F401
    dhcn,  # noqa: F401
    factorization,  # noqa: F401
    focol,  # noqa: F401
    gcegnn,  # noqa: F401
    gru4rec,  # noqa: F401
    i3gn,  # noqa: F401
    itemknn,  # noqa: F401
    knnrnn,  # noqa: F401
    lgsr,  # noqa: F401
    narm,  # noqa: F401
    pop,  # noqa: F401
    sknn,  # noqa: F401
    spop,  # noqa: F401
    srgnn,  # noqa: F401
    sriem,  # noqa: F401
    stamp,  # noqa: F401
    stan,  # noqa: F401
    tagnn,  # noqa: F401
    vsknn,  # noqa: F401
    vstan,  # noqa: F401
)
